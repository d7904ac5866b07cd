// Classification: a class label per row (column "mask", as in the official
// CSVs). Head: SMP ClassificationHead on the last encoder feature; loss:
// cross-entropy; validation: Accuracy and macro F1 per chunk; submission:
// predicted class and softmax probabilities; evaluation: Accuracy, AUC, F1
// macro/weighted, MCC and per-class F1.
#include "ops/ops.h"
#include "tasks/kind_support.h"
#include "tasks/kinds.h"
#include "tasks/metrics.h"

namespace sono::tasks {

using nlohmann::json;

namespace {

class Classification final : public TaskKind {
 public:
  TaskType type() const override { return TaskType::Classification; }
  const char* category() const override { return "classification"; }

  bool row_has_target(const data::RowFields& row) const override { return row.get("mask").has_value(); }
  void read_target(const data::RowFields& row, data::Sample& s) const override {
    s.label = row.integer("mask");
    if (s.label < 0 || s.label >= s.num_classes)
      row.fail("mask", str_cat("label ", s.label, " is outside [0, num_classes = ", s.num_classes, ")"));
  }
  void allocate_targets(data::Batch& b, int64_t batch, int64_t, int64_t) const override {
    b.labels = Tensor::empty({batch}, DType::I64);
  }
  void fill_target(data::Batch& b, int64_t i, const data::Sample& s, const data::ResizedImage&, int64_t,
                   data::ImageCache*) const override {
    b.labels.data<int64_t>()[i] = s.label;
  }

  int64_t output_channels(int64_t num_classes) const override { return num_classes; }
  std::shared_ptr<model::TaskHead> make_head(const model::TaskSpec& spec, const model::HeadInputs& in) const override {
    return std::make_shared<model::ClassificationHead>(spec, in.encoder_channels, output_channels(spec.num_classes),
                                                       in.classification_dropout);
  }

  Tensor loss(const data::Batch& batch, const Tensor& output) const override {
    return cross_entropy(output, detail::on(batch.labels, output.device()));
  }
  void synthetic_target(data::Batch& b, int64_t c, int64_t, std::mt19937_64& rng) const override {
    std::vector<int64_t> l(static_cast<size_t>(b.size()));
    for (auto& v : l) v = int64_t(rng() % uint64_t(c));
    b.labels = Tensor::from_vector(l, {b.size()});
  }

  void validation_metrics(const Tensor& out, const data::Batch& batch, int64_t, MetricLists& v) const override {
    auto pred = detail::argmax_classes(out);
    auto gt = batch.labels.to(Device::cpu()).contiguous().to_vector<int64_t>();
    v["Accuracy"].push_back(metrics::accuracy(gt, pred));
    v["F1-Score"].push_back(metrics::f1_macro(gt, pred));
  }

  const char* submission_file() const override { return "classification_predictions.json"; }
  void submit(const Tensor& out, const data::Batch& batch, const std::string& task_id, const SubmissionDirs&,
              json& records) const override {
    auto probs = softmax(out.to(DType::F64), 1).contiguous().to_vector<double>();
    const int64_t c = out.size(1);
    for (int64_t i = 0; i < batch.size(); ++i) {
      std::vector<double> p(probs.begin() + i * c, probs.begin() + (i + 1) * c);
      int64_t best = int64_t(std::max_element(p.begin(), p.end()) - p.begin());
      records.push_back({{"image_path", batch.samples[size_t(i)].csv_image_path},
                         {"task_id", task_id},
                         {"predicted_class", best},
                         {"predicted_probs", p}});
    }
  }

  json evaluate(const EvaluationTask& t, int64_t& missing) const override {
    const int64_t c = t.task.num_classes;
    std::vector<int64_t> yt, yp;
    std::vector<std::vector<double>> probs;
    bool all_probs = true;
    for (const data::Sample* s : t.rows) {
      auto it = t.predictions.find(s->csv_image_path);
      if (it == t.predictions.end()) {
        ++missing;
        continue;
      }
      yt.push_back(s->label);
      const json& cls = it->second.contains("predicted_class") ? it->second["predicted_class"] : json();
      SONO_CHECK(cls.is_number_integer() && cls.get<int64_t>() >= 0 && cls.get<int64_t>() < c, "evaluate", t.where(*s),
                 ": predicted_class must be an integer in [0, ", c, "), got ", cls.dump());
      yp.push_back(cls.get<int64_t>());
      if (it->second.contains("predicted_probs") && !it->second["predicted_probs"].is_null()) {
        probs.push_back(detail::numbers(it->second, "predicted_probs", t.where(*s)));
        SONO_CHECK(int64_t(probs.back().size()) == c, "evaluate", t.where(*s), ": predicted_probs has ",
                   probs.back().size(), " numbers, expected num_classes = ", c);
      } else all_probs = false;
    }
    json entry = {{"AUC", 0.0},
                  {"Accuracy", 0.0},
                  {"F1_macro", 0.0},
                  {"F1_weighted", 0.0},
                  {"MCC", 0.0},
                  {"num_samples", int64_t(yt.size())},
                  {"per_class", json::object()}};
    if (yt.empty()) return entry;
    std::optional<double> auc;
    if (all_probs && probs.size() == yt.size()) {
      if (c == 2) {
        std::vector<double> s1;
        for (auto& p : probs) s1.push_back(p.size() > 1 ? p[1] : NAN);
        auc = metrics::auc_binary(yt, s1);
      } else if (c > 2) {
        auc = metrics::auc_ovr_macro(yt, probs);
      }
    }
    entry["AUC"] = auc.value_or(0.0);
    entry["Accuracy"] = metrics::accuracy(yt, yp);
    entry["F1_macro"] = metrics::f1_macro(yt, yp);
    entry["F1_weighted"] = metrics::f1_weighted(yt, yp);
    entry["MCC"] = metrics::mcc(yt, yp);
    // As evaluate.py: per_class F1 indexes the F1 list of the labels present.
    auto f1 = metrics::f1_per_label(yt, yp);
    for (int64_t k = 0; k < c; ++k)
      entry["per_class"]["class_" + std::to_string(k)] = {{"F1", k < int64_t(f1.size()) ? f1[size_t(k)] : 0.0}};
    return entry;
  }
  std::vector<const char*> summary_metrics() const override {
    return {"Accuracy", "AUC", "F1_macro", "F1_weighted", "MCC"};
  }
};

}  // namespace

const TaskKind& classification_kind() {
  static const Classification kind;
  return kind;
}

}  // namespace sono::tasks
