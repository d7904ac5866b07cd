#pragma once
// Internal to the PyTorch checkpoint reader: a restricted unpickler.
//
// It is a stack machine over an object arena (objects refer to each other by
// index, so self-referencing pickles cannot leak or recurse), understands the
// protocol 2-5 opcodes that torch.save emits for state dicts, and resolves
// only the globals a state dict needs; REDUCE/NEWOBJ/BUILD on them construct
// inert records (dict, storage reference, tensor view). No Python callable is
// ever looked up or run: a pickle naming anything else fails.
#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/dtype.h"
#include "core/shape.h"
#include "io/torch_checkpoint.h"

namespace sono::nn::detail {

// torch.<Name>Storage: the element type in the file and the Sono dtype it becomes.
enum class StorageType : uint8_t { F32, F64, F16, BF16, I64, I32, I16, I8, U8, Bool };
struct StorageTypeInfo {
  const char* torch_name;  // "FloatStorage"
  StorageType type;
  uint64_t element_size;  // bytes per element in the file
  DType dtype;            // Sono dtype after reading (Half widens to f32, Short/Char to i32, Bool to u8)
};
const StorageTypeInfo& storage_type_info(StorageType t);

enum class Kind : uint8_t { None, Bool, Int, BigInt, Float, Str, Bytes, Tuple, List, Dict, Global, Storage, Tensor };
const char* kind_name(Kind k);

// The only callables a state dict may name.
enum class Callable : uint8_t {
  OrderedDict,
  RebuildTensorV2,
  RebuildTensor,
  RebuildParameter,
  RebuildParameterWithState,
  StorageClass
};

struct PyObject {
  Kind kind = Kind::None;
  int64_t i = 0;                // Bool/Int value; Global: Callable; Storage/Tensor: index into the heap's records
  uint8_t storage_type = 0;     // Global StorageClass: its StorageType
  double f = 0;                 // Float
  std::string s;                // Str/Bytes; BigInt: little-endian two's complement bytes; Global: "module.name"
  std::vector<uint32_t> items;  // Tuple/List elements; Dict: key0, value0, key1, value1, ...
};

struct StorageRecord {
  std::string key;  // the record name: data/<key> (zip) or the legacy key
  StorageType type;
  uint64_t numel = 0;             // elements, as the persistent id claims
  const uint8_t* data = nullptr;  // numel * element_size bytes, once located in the file
};

struct TensorRecord {
  uint32_t storage = 0;
  uint64_t offset = 0;  // elements
  Shape sizes, strides;
  uint64_t numel = 0;
};

// Everything unpickled from one file; legacy files run several pickles into it.
struct PickleHeap {
  std::vector<PyObject> objects;
  std::vector<StorageRecord> storages;
  std::vector<TensorRecord> tensors;
  std::unordered_map<std::string, uint32_t> storage_by_key;
  std::vector<std::string> locations;  // distinct location tags of the storages
};

// Runs the pickle that starts at data[pos] up to its STOP opcode; returns the
// root object and leaves pos just past STOP. `context` prefixes errors
// ("torch checkpoint: f.pth: data.pkl").
uint32_t unpickle(const uint8_t* data, size_t size, size_t& pos, PickleHeap& heap, const TorchCheckpointLimits& limits,
                  const std::string& context);

// "dict (3 entries)", "int 5", "str 'abc'": for error messages.
std::string describe_object(const PickleHeap& heap, uint32_t id);

}  // namespace sono::nn::detail
