#include "io/torch_checkpoint_pickle.h"

#include <cstring>

#include "core/error.h"
#include "io/torch_checkpoint_zip.h"

namespace sono::nn::detail {

namespace {

constexpr StorageTypeInfo kStorageTypes[] = {
    {"FloatStorage", StorageType::F32, 4, DType::F32}, {"DoubleStorage", StorageType::F64, 8, DType::F64},
    {"HalfStorage", StorageType::F16, 2, DType::F32},  {"BFloat16Storage", StorageType::BF16, 2, DType::BF16},
    {"LongStorage", StorageType::I64, 8, DType::I64},  {"IntStorage", StorageType::I32, 4, DType::I32},
    {"ShortStorage", StorageType::I16, 2, DType::I32}, {"CharStorage", StorageType::I8, 1, DType::I32},
    {"ByteStorage", StorageType::U8, 1, DType::U8},    {"BoolStorage", StorageType::Bool, 1, DType::U8},
};

constexpr const char* kAllowedGlobals =
    "collections.OrderedDict, torch._utils._rebuild_tensor_v2, torch._utils._rebuild_tensor, "
    "torch._utils._rebuild_parameter[_with_state] and "
    "torch.<Float|Double|Half|BFloat16|Long|Int|Short|Char|Byte|Bool>Storage";

// Pickle opcodes (Python's Lib/pickle.py names).
enum Op : uint8_t {
  MARK = '(',
  STOP = '.',
  POP = '0',
  POP_MARK = '1',
  DUP = '2',
  NONE = 'N',
  BININT = 'J',
  BININT1 = 'K',
  BININT2 = 'M',
  BINFLOAT = 'G',
  BINSTRING = 'T',
  SHORT_BINSTRING = 'U',
  BINUNICODE = 'X',
  BINBYTES = 'B',
  SHORT_BINBYTES = 'C',
  EMPTY_TUPLE = ')',
  TUPLE = 't',
  EMPTY_LIST = ']',
  APPEND = 'a',
  APPENDS = 'e',
  LIST = 'l',
  EMPTY_DICT = '}',
  DICT = 'd',
  SETITEM = 's',
  SETITEMS = 'u',
  BINPUT = 'q',
  LONG_BINPUT = 'r',
  BINGET = 'h',
  LONG_BINGET = 'j',
  GLOBAL = 'c',
  REDUCE = 'R',
  BUILD = 'b',
  BINPERSID = 'Q',
  PROTO = 0x80,
  NEWOBJ = 0x81,
  TUPLE1 = 0x85,
  TUPLE2 = 0x86,
  TUPLE3 = 0x87,
  NEWTRUE = 0x88,
  NEWFALSE = 0x89,
  LONG1 = 0x8a,
  LONG4 = 0x8b,
  SHORT_BINUNICODE = 0x8c,
  BINUNICODE8 = 0x8d,
  BINBYTES8 = 0x8e,
  STACK_GLOBAL = 0x93,
  MEMOIZE = 0x94,
  FRAME = 0x95,
};

class Unpickler {
 public:
  Unpickler(const uint8_t* data, size_t size, size_t& pos, PickleHeap& heap, const TorchCheckpointLimits& limits,
            const std::string& context)
      : data_(data), size_(size), pos_(pos), heap_(heap), limits_(limits), context_(context) {}

  uint32_t run();

 private:
  [[noreturn]] void fail(const std::string& what) const {
    throw Error(str_cat(context_, ": pickle offset ", op_pos_, ": ", what));
  }
  const uint8_t* take(uint64_t n) {
    if (n > size_ - pos_) fail(str_cat("needs ", n, " more bytes, only ", size_ - pos_, " left: truncated pickle"));
    const uint8_t* p = data_ + pos_;
    pos_ += n;
    return p;
  }
  uint32_t make(PyObject o) {
    if (heap_.objects.size() >= limits_.max_objects) fail(str_cat("more than ", limits_.max_objects, " objects"));
    heap_.objects.push_back(std::move(o));
    return uint32_t(heap_.objects.size() - 1);
  }
  uint32_t make_kind(Kind k, int64_t i = 0) {
    PyObject o;
    o.kind = k;
    o.i = i;
    return make(std::move(o));
  }
  uint32_t make_text(Kind k, uint64_t n) {
    PyObject o;
    o.kind = k;
    const uint8_t* p = take(n);
    o.s.assign(reinterpret_cast<const char*>(p), n);
    return make(std::move(o));
  }
  PyObject& obj(uint32_t id) { return heap_.objects[id]; }
  void push(uint32_t id) {
    if (stack_.size() >= limits_.max_stack) fail(str_cat("stack deeper than ", limits_.max_stack));
    stack_.push_back(id);
  }
  uint32_t pop() {
    if (stack_.size() <= mark_floor()) fail("pop from an empty stack (or across a MARK)");
    uint32_t id = stack_.back();
    stack_.pop_back();
    return id;
  }
  uint32_t& top() {
    if (stack_.size() <= mark_floor()) fail("empty stack");
    return stack_.back();
  }
  size_t mark_floor() const { return marks_.empty() ? 0 : marks_.back(); }
  // The items pushed since the last MARK, which is removed.
  std::vector<uint32_t> pop_mark() {
    if (marks_.empty()) fail("no MARK on the stack");
    const size_t m = marks_.back();
    marks_.pop_back();
    std::vector<uint32_t> items(stack_.begin() + m, stack_.end());
    stack_.resize(m);
    return items;
  }
  void memo_put(uint64_t index) {
    if (memo_.size() >= limits_.max_memo && !memo_.count(index)) fail(str_cat("memo larger than ", limits_.max_memo));
    memo_[index] = top();
  }
  void memo_get(uint64_t index) {
    auto it = memo_.find(index);
    if (it == memo_.end()) fail(str_cat("memo key ", index, " was never stored"));
    push(it->second);
  }
  uint32_t make_seq(Kind k, std::vector<uint32_t> items) {
    PyObject o;
    o.kind = k;
    o.items = std::move(items);
    return make(std::move(o));
  }
  void extend(uint32_t target, const std::vector<uint32_t>& items, Kind want, const char* opname) {
    PyObject& t = obj(target);
    if (t.kind != want) fail(str_cat(opname, " on ", kind_name(t.kind), " (expected a ", kind_name(want), ")"));
    if (want == Kind::Dict && items.size() % 2) fail(str_cat(opname, " with an odd number of items"));
    t.items.insert(t.items.end(), items.begin(), items.end());
  }
  std::string read_line() {
    const size_t max_len = 1024;
    for (size_t i = pos_; i < size_ && i - pos_ <= max_len; ++i) {
      if (data_[i] == '\n') {
        std::string s(reinterpret_cast<const char*>(data_ + pos_), i - pos_);
        pos_ = i + 1;
        return s;
      }
    }
    fail("GLOBAL name not terminated by a newline within 1024 bytes");
  }
  uint32_t make_int(const uint8_t* p, uint64_t n);
  uint32_t resolve_global(const std::string& module, const std::string& name);
  uint32_t reduce(uint32_t callable, uint32_t args);
  uint32_t rebuild_tensor(const std::vector<uint32_t>& args, const char* fn);
  uint32_t persistent_load(uint32_t pid);
  const std::string& str_arg(uint32_t id, const char* what);
  int64_t int_arg(uint32_t id, const char* what);
  Shape int_tuple_arg(uint32_t id, const char* what);

  const uint8_t* data_;
  size_t size_;
  size_t& pos_;
  size_t op_pos_ = 0;
  PickleHeap& heap_;
  const TorchCheckpointLimits& limits_;
  const std::string& context_;
  std::vector<uint32_t> stack_;
  std::vector<size_t> marks_;
  std::unordered_map<uint64_t, uint32_t> memo_;
};

// Python ints of any length; only values that fit int64 are usable as numbers.
uint32_t Unpickler::make_int(const uint8_t* p, uint64_t n) {
  const bool negative = n > 0 && (p[n - 1] & 0x80);
  uint64_t used = n;  // drop sign-extension bytes
  while (used > 0 && p[used - 1] == (negative ? 0xff : 0x00)) --used;
  const bool fits = used < 8 || (used == 8 && bool(p[7] & 0x80) == negative);
  if (!fits) {
    PyObject o;
    o.kind = Kind::BigInt;
    o.s.assign(reinterpret_cast<const char*>(p), n);
    return make(std::move(o));
  }
  uint64_t v = negative ? ~uint64_t(0) : 0;
  for (uint64_t k = 0; k < std::min<uint64_t>(n, 8); ++k) {
    v &= ~(uint64_t(0xff) << (8 * k));
    v |= uint64_t(p[k]) << (8 * k);
  }
  return make_kind(Kind::Int, int64_t(v));
}

uint32_t Unpickler::resolve_global(const std::string& module, const std::string& name) {
  PyObject o;
  o.kind = Kind::Global;
  o.s = module + "." + name;
  if (module == "collections" && name == "OrderedDict") {
    o.i = int64_t(Callable::OrderedDict);
  } else if (module == "torch._utils" && name == "_rebuild_tensor_v2") {
    o.i = int64_t(Callable::RebuildTensorV2);
  } else if (module == "torch._utils" && name == "_rebuild_tensor") {
    o.i = int64_t(Callable::RebuildTensor);
  } else if (module == "torch._utils" && name == "_rebuild_parameter") {
    o.i = int64_t(Callable::RebuildParameter);
  } else if (module == "torch._utils" && name == "_rebuild_parameter_with_state") {
    o.i = int64_t(Callable::RebuildParameterWithState);
  } else {
    const StorageTypeInfo* found = nullptr;
    if (module == "torch" || module == "torch.cuda")  // very old CUDA checkpoints name torch.cuda.FloatStorage
      for (const auto& t : kStorageTypes)
        if (name == t.torch_name) found = &t;
    if (!found) {
      // A whole pickled model names its classes (torch.nn.modules.conv.Conv2d, __main__.Net).
      const bool model_object = module.rfind("torch.nn", 0) == 0 || module == "__main__";
      fail(str_cat("refused global '", o.s, "': a checkpoint may only name ", kAllowedGlobals,
                   " (loading never imports or runs anything)",
                   model_object
                       ? "; this file pickles a model object (torch.save(model)): save model.state_dict() instead"
                       : ""));
    }
    o.i = int64_t(Callable::StorageClass);
    o.storage_type = uint8_t(found->type);
  }
  return make(std::move(o));
}

const std::string& Unpickler::str_arg(uint32_t id, const char* what) {
  const PyObject& o = obj(id);
  if (o.kind != Kind::Str) fail(str_cat(what, " must be a str, got ", describe_object(heap_, id)));
  return o.s;
}

int64_t Unpickler::int_arg(uint32_t id, const char* what) {
  const PyObject& o = obj(id);
  if (o.kind != Kind::Int) fail(str_cat(what, " must be an int, got ", describe_object(heap_, id)));
  return o.i;
}

Shape Unpickler::int_tuple_arg(uint32_t id, const char* what) {
  const PyObject& o = obj(id);
  if (o.kind != Kind::Tuple) fail(str_cat(what, " must be a tuple, got ", describe_object(heap_, id)));
  if (o.items.size() > limits_.max_dims)
    fail(str_cat(what, " has ", o.items.size(), " dims (limit ", limits_.max_dims, ")"));
  Shape s;
  for (uint32_t item : o.items) {
    const int64_t v = int_arg(item, what);
    if (v < 0) fail(str_cat(what, " has a negative entry ", v));
    s.push_back(v);
  }
  return s;
}

// ('storage', torch.<T>Storage, key, location, numel[, view_metadata]) as torch's
// persistent_id writes it; the bytes are located after unpickling.
uint32_t Unpickler::persistent_load(uint32_t pid_id) {
  const PyObject& pid = obj(pid_id);
  if (pid.kind != Kind::Tuple || pid.items.empty() || obj(pid.items[0]).kind != Kind::Str ||
      obj(pid.items[0]).s != "storage")
    fail(str_cat("persistent id must be a ('storage', ...) tuple, got ", describe_object(heap_, pid_id)));
  const std::vector<uint32_t> it = pid.items;
  if (it.size() != 5 && it.size() != 6)
    fail(str_cat("storage persistent id has ", it.size(), " fields (expected 5 or 6)"));
  const PyObject& type = obj(it[1]);
  if (type.kind != Kind::Global || type.i != int64_t(Callable::StorageClass))
    fail(str_cat("storage type must be a torch.<Type>Storage class, got ", describe_object(heap_, it[1])));
  const std::string key = str_arg(it[2], "storage key");
  const std::string location = str_arg(it[3], "storage location");
  const int64_t numel = int_arg(it[4], "storage size");
  if (numel < 0) fail(str_cat("storage '", key, "' has negative size ", numel));
  if (it.size() == 6 && obj(it[5]).kind != Kind::None)
    fail(str_cat("storage '", key, "' is a view of another storage (pre-0.4 view_metadata), not supported"));
  const auto st = StorageType(type.storage_type);

  bool known_location = false;
  for (const auto& l : heap_.locations) known_location |= l == location;
  if (!known_location) {
    if (heap_.locations.size() >= 64) fail("more than 64 distinct storage locations");
    heap_.locations.push_back(location);
  }
  auto found = heap_.storage_by_key.find(key);
  uint32_t index;
  if (found != heap_.storage_by_key.end()) {
    const StorageRecord& r = heap_.storages[found->second];
    if (r.type != st || r.numel != uint64_t(numel))
      fail(str_cat("storage '", key, "' is referenced as ", storage_type_info(st).torch_name, "(", numel, ") and as ",
                   storage_type_info(r.type).torch_name, "(", r.numel, ")"));
    index = found->second;
  } else {
    index = uint32_t(heap_.storages.size());
    heap_.storages.push_back(StorageRecord{key, st, uint64_t(numel), nullptr});
    heap_.storage_by_key.emplace(key, index);
  }
  return make_kind(Kind::Storage, index);
}

// _rebuild_tensor[_v2](storage, storage_offset, size, stride, ...): the view
// must lie inside the storage.
uint32_t Unpickler::rebuild_tensor(const std::vector<uint32_t>& args, const char* fn) {
  const PyObject& s = obj(args[0]);
  if (s.kind != Kind::Storage)
    fail(str_cat(fn, ": first argument must be a storage, got ", describe_object(heap_, args[0])));
  TensorRecord t;
  t.storage = uint32_t(s.i);
  const int64_t offset = int_arg(args[1], "storage_offset");
  if (offset < 0) fail(str_cat(fn, ": negative storage offset ", offset));
  t.offset = uint64_t(offset);
  t.sizes = int_tuple_arg(args[2], "size");
  t.strides = int_tuple_arg(args[3], "stride");
  const StorageRecord& r = heap_.storages[t.storage];
  if (t.sizes.size() != t.strides.size())
    fail(str_cat(fn, ": size ", shape_str(t.sizes), " and stride ", shape_str(t.strides), " differ in length"));
  uint64_t numel = 1, last = t.offset;  // last: index of the view's last element
  bool overflow = false;
  for (size_t d = 0; d < t.sizes.size(); ++d) {
    overflow |= mul_overflows(numel, uint64_t(t.sizes[d]), &numel);
    if (t.sizes[d] > 0) {
      uint64_t span;
      overflow |= mul_overflows(uint64_t(t.sizes[d] - 1), uint64_t(t.strides[d]), &span);
      overflow |= add_overflows(last, span, &last);
    }
  }
  if (overflow || numel > uint64_t(INT64_MAX)) fail(str_cat(fn, ": size ", shape_str(t.sizes), " overflows"));
  if (numel > 0 && last >= r.numel)
    fail(str_cat(fn, ": view (offset ", t.offset, ", size ", shape_str(t.sizes), ", stride ", shape_str(t.strides),
                 ") reaches element ", last, " of storage '", r.key, "' which has ", r.numel));
  t.numel = numel;
  heap_.tensors.push_back(std::move(t));
  return make_kind(Kind::Tensor, int64_t(heap_.tensors.size() - 1));
}

uint32_t Unpickler::reduce(uint32_t callable_id, uint32_t args_id) {
  const PyObject& c = obj(callable_id);
  if (c.kind != Kind::Global) fail(str_cat("cannot call ", describe_object(heap_, callable_id)));
  const PyObject& a = obj(args_id);
  if (a.kind != Kind::Tuple) fail(str_cat(c.s, ": arguments must be a tuple, got ", describe_object(heap_, args_id)));
  const std::vector<uint32_t> args = a.items;
  auto want_args = [&](bool ok, const char* expected) {
    if (!ok) fail(str_cat(c.s, ": called with ", args.size(), " arguments (expected ", expected, ")"));
  };
  switch (Callable(c.i)) {
    case Callable::OrderedDict: want_args(args.empty(), "0"); return make_kind(Kind::Dict);
    case Callable::RebuildTensorV2:
      // (storage, offset, size, stride, requires_grad, backward_hooks[, metadata]); the rest is ignored.
      want_args(args.size() == 6 || args.size() == 7, "6 or 7");
      return rebuild_tensor(args, "_rebuild_tensor_v2");
    case Callable::RebuildTensor: want_args(args.size() == 4, "4"); return rebuild_tensor(args, "_rebuild_tensor");
    case Callable::RebuildParameter:
    case Callable::RebuildParameterWithState:
      // (data, requires_grad, backward_hooks[, state]): a parameter is its data.
      want_args(args.size() == (Callable(c.i) == Callable::RebuildParameter ? 3u : 4u), "3, or 4 with state");
      if (obj(args[0]).kind != Kind::Tensor)
        fail(str_cat(c.s, ": data must be a tensor, got ", describe_object(heap_, args[0])));
      return args[0];
    case Callable::StorageClass: break;
  }
  fail(str_cat("calling ", c.s, " is not supported (storages come only from persistent ids)"));
}

uint32_t Unpickler::run() {
  if (pos_ > size_) fail("pickle starts past the end of the data");
  for (;;) {
    op_pos_ = pos_;
    const uint8_t op = *take(1);
    switch (op) {
      case PROTO: {
        const uint8_t v = *take(1);
        if (v < 2 || v > 5) fail(str_cat("pickle protocol ", int(v), " (supported: 2 to 5)"));
        break;
      }
      case FRAME: take(8); break;  // a buffering hint: the length is not needed
      case STOP: {
        const uint32_t root = pop();
        if (!marks_.empty()) fail("STOP with an open MARK");
        return root;
      }
      case MARK:
        if (marks_.size() >= limits_.max_nesting) fail(str_cat("nesting deeper than ", limits_.max_nesting));
        marks_.push_back(stack_.size());
        break;
      case POP: pop(); break;
      case POP_MARK: pop_mark(); break;
      case DUP: push(top()); break;
      case NONE: push(make_kind(Kind::None)); break;
      case NEWTRUE: push(make_kind(Kind::Bool, 1)); break;
      case NEWFALSE: push(make_kind(Kind::Bool, 0)); break;
      case BININT: push(make_int(take(4), 4)); break;
      case BININT1: push(make_kind(Kind::Int, *take(1))); break;
      case BININT2: push(make_kind(Kind::Int, load_le16(take(2)))); break;
      case LONG1: {
        const uint8_t n = *take(1);
        push(make_int(take(n), n));
        break;
      }
      case LONG4: {
        const int32_t n = int32_t(load_le32(take(4)));
        if (n < 0) fail("LONG4 with a negative length");
        push(make_int(take(uint64_t(n)), uint64_t(n)));
        break;
      }
      case BINFLOAT: {
        const uint8_t* p = take(8);
        uint64_t bits = 0;
        for (int k = 0; k < 8; ++k) bits = (bits << 8) | p[k];  // big-endian in pickles
        PyObject o;
        o.kind = Kind::Float;
        std::memcpy(&o.f, &bits, 8);
        push(make(std::move(o)));
        break;
      }
      case SHORT_BINUNICODE: push(make_text(Kind::Str, *take(1))); break;
      case BINUNICODE: push(make_text(Kind::Str, load_le32(take(4)))); break;
      case BINUNICODE8: push(make_text(Kind::Str, load_le64(take(8)))); break;
      // Python 2 str: keys of checkpoints written by Python 2 torch.
      case SHORT_BINSTRING: push(make_text(Kind::Str, *take(1))); break;
      case BINSTRING: {
        const int32_t n = int32_t(load_le32(take(4)));
        if (n < 0) fail("BINSTRING with a negative length");
        push(make_text(Kind::Str, uint64_t(n)));
        break;
      }
      case SHORT_BINBYTES: push(make_text(Kind::Bytes, *take(1))); break;
      case BINBYTES: push(make_text(Kind::Bytes, load_le32(take(4)))); break;
      case BINBYTES8: push(make_text(Kind::Bytes, load_le64(take(8)))); break;
      case EMPTY_TUPLE: push(make_seq(Kind::Tuple, {})); break;
      case TUPLE: push(make_seq(Kind::Tuple, pop_mark())); break;
      case TUPLE1:
      case TUPLE2:
      case TUPLE3: {
        std::vector<uint32_t> items(op - TUPLE1 + 1);
        for (size_t k = items.size(); k-- > 0;) items[k] = pop();
        push(make_seq(Kind::Tuple, std::move(items)));
        break;
      }
      case EMPTY_LIST: push(make_seq(Kind::List, {})); break;
      case LIST: push(make_seq(Kind::List, pop_mark())); break;
      case APPEND: {
        const uint32_t v = pop();
        extend(top(), {v}, Kind::List, "APPEND");
        break;
      }
      case APPENDS: {
        std::vector<uint32_t> items = pop_mark();
        extend(top(), items, Kind::List, "APPENDS");
        break;
      }
      case EMPTY_DICT: push(make_seq(Kind::Dict, {})); break;
      case DICT: {
        std::vector<uint32_t> items = pop_mark();
        if (items.size() % 2) fail("DICT with an odd number of items");
        push(make_seq(Kind::Dict, std::move(items)));
        break;
      }
      case SETITEM: {
        const uint32_t v = pop(), k = pop();
        extend(top(), {k, v}, Kind::Dict, "SETITEM");
        break;
      }
      case SETITEMS: {
        std::vector<uint32_t> items = pop_mark();
        extend(top(), items, Kind::Dict, "SETITEMS");
        break;
      }
      case BINPUT: memo_put(*take(1)); break;
      case LONG_BINPUT: memo_put(load_le32(take(4))); break;
      case MEMOIZE: memo_put(memo_.size()); break;
      case BINGET: memo_get(*take(1)); break;
      case LONG_BINGET: memo_get(load_le32(take(4))); break;
      case GLOBAL: {
        const std::string module = read_line();
        const std::string name = read_line();
        push(resolve_global(module, name));
        break;
      }
      case STACK_GLOBAL: {
        const uint32_t name = pop(), module = pop();
        const std::string n = str_arg(name, "STACK_GLOBAL name"), m = str_arg(module, "STACK_GLOBAL module");
        push(resolve_global(m, n));
        break;
      }
      case REDUCE: {
        const uint32_t args = pop(), callable = pop();
        push(reduce(callable, args));
        break;
      }
      case NEWOBJ: {  // cls.__new__(cls, *args): only OrderedDict() is meaningful here
        const uint32_t args = pop(), cls = pop();
        const PyObject& c = obj(cls);
        if (c.kind != Kind::Global || Callable(c.i) != Callable::OrderedDict)
          fail(str_cat("NEWOBJ of ", describe_object(heap_, cls), " is not supported"));
        push(reduce(cls, args));
        break;
      }
      case BUILD: {
        // OrderedDict state (the state dict's _metadata attribute) and tensor state carry nothing Sono uses.
        const uint32_t state = pop();
        const PyObject& t = obj(top());
        if (t.kind != Kind::Dict && t.kind != Kind::Tensor)
          fail(str_cat("BUILD on ", describe_object(heap_, top()), " with state ", describe_object(heap_, state),
                       " is not supported"));
        break;
      }
      case BINPERSID: push(persistent_load(pop())); break;
      default:
        fail(str_cat("unsupported pickle opcode 0x", "0123456789abcdef"[op >> 4], "0123456789abcdef"[op & 15],
                     op >= 0x20 && op < 0x7f ? str_cat(" ('", char(op), "')") : std::string(),
                     ": not something torch.save writes for a state dict"));
    }
  }
}

}  // namespace

const StorageTypeInfo& storage_type_info(StorageType t) {
  for (const auto& info : kStorageTypes)
    if (info.type == t) return info;
  throw Error("torch checkpoint: unknown storage type");
}

const char* kind_name(Kind k) {
  switch (k) {
    case Kind::None: return "None";
    case Kind::Bool: return "bool";
    case Kind::Int: return "int";
    case Kind::BigInt: return "int";
    case Kind::Float: return "float";
    case Kind::Str: return "str";
    case Kind::Bytes: return "bytes";
    case Kind::Tuple: return "tuple";
    case Kind::List: return "list";
    case Kind::Dict: return "dict";
    case Kind::Global: return "global";
    case Kind::Storage: return "storage";
    case Kind::Tensor: return "tensor";
  }
  return "?";
}

std::string describe_object(const PickleHeap& heap, uint32_t id) {
  const PyObject& o = heap.objects[id];
  switch (o.kind) {
    case Kind::Bool: return o.i ? "bool True" : "bool False";
    case Kind::Int: return str_cat("int ", o.i);
    case Kind::BigInt: return str_cat("int of ", o.s.size(), " bytes");
    case Kind::Float: return str_cat("float ", o.f);
    case Kind::Str: return "str '" + (o.s.size() > 40 ? o.s.substr(0, 40) + "..." : o.s) + "'";
    case Kind::Bytes: return str_cat("bytes (", o.s.size(), ")");
    case Kind::Tuple:
    case Kind::List: return str_cat(kind_name(o.kind), " (", o.items.size(), " items)");
    case Kind::Dict: return str_cat("dict (", o.items.size() / 2, " entries)");
    case Kind::Global: return "global " + o.s;
    case Kind::Storage: return "storage '" + heap.storages[size_t(o.i)].key + "'";
    case Kind::Tensor: return str_cat("tensor ", shape_str(heap.tensors[size_t(o.i)].sizes));
    case Kind::None: break;
  }
  return kind_name(o.kind);
}

uint32_t unpickle(const uint8_t* data, size_t size, size_t& pos, PickleHeap& heap, const TorchCheckpointLimits& limits,
                  const std::string& context) {
  return Unpickler(data, size, pos, heap, limits, context).run();
}

}  // namespace sono::nn::detail
