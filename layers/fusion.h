#pragma once
// Whether the layers run the fused ops (batch_norm_silu, se_gate,
// drop_connect_add) or the unfused chains they replace. Both compute the same
// values; the switch exists for the speed and memory comparisons and the
// "fused == unfused" model tests. Default on; the environment variable
// SONO_FUSED_OPS=0 turns it off for a whole process (1 keeps it on; any other
// value is refused naming the variable).
namespace sono::nn {

bool fused_ops_enabled();
void set_fused_ops_enabled(bool on);
// The switch a value of SONO_FUSED_OPS sets (null: unset); throws for a bad one.
bool parse_fused_ops(const char* value);

// Sets the switch for one scope and restores the previous value.
class FusedOpsScope {
 public:
  explicit FusedOpsScope(bool on) : previous_(fused_ops_enabled()) { set_fused_ops_enabled(on); }
  ~FusedOpsScope() { set_fused_ops_enabled(previous_); }
  FusedOpsScope(const FusedOpsScope&) = delete;
  FusedOpsScope& operator=(const FusedOpsScope&) = delete;

 private:
  bool previous_;
};

}  // namespace sono::nn
