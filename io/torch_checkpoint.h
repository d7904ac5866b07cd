#pragma once
// A native reader of PyTorch checkpoints (torch.save of a state dict): the zip
// format (torch >= 1.6: <archive>/data.pkl + one raw little-endian storage per
// record <archive>/data/<key>) and the legacy format (torch < 1.6: magic
// number, protocol version and sys_info pickles, the main pickle, the pickled
// list of storage keys, then per storage an int64 element count + raw data).
//
// Safe by construction: the pickles are run by a restricted stack machine that
// knows only the opcodes and the globals a state dict needs
// (collections.OrderedDict, torch._utils._rebuild_tensor[_v2],
// torch._utils._rebuild_parameter[_with_state], torch.<Type>Storage). Nothing
// is ever imported or called; any other global (os.system, builtins.eval,
// torch.storage._load_from_bytes, ...) is refused with an error naming it.
// Every size is checked against the bytes actually present before anything is
// allocated, with overflow-checked arithmetic and bounded stack, memo,
// nesting and output size.
#include <cstdint>
#include <string>
#include <vector>

#include "io/named_tensors.h"

namespace sono::nn {

// Bounds against hostile files. The defaults are far above what any real
// state dict needs (the official 823-entry model uses < 3,000 pickle objects).
struct TorchCheckpointLimits {
  uint64_t max_output_bytes = 0;   // total bytes of the returned tensors; 0: 4 x file size + 64 MiB
  uint64_t max_stack = 1 << 20;    // pickle stack entries
  uint64_t max_memo = 1 << 20;     // pickle memo entries
  uint64_t max_nesting = 256;      // nested MARKs (tuples/lists/dicts being built)
  uint64_t max_objects = 1 << 22;  // pickle objects in one file (~100 bytes each)
  uint64_t max_dims = 32;          // tensor rank
  uint64_t max_zip_entries = 1 << 20;
};

struct TorchCheckpointOptions {
  // The state dict may sit inside a wrapper dict (e.g. {'epoch': 3,
  // 'state_dict': {...}, 'optimizer': {...}}): when the top-level dict has one
  // of these keys (tried in order) whose value is a dict, that dict is read.
  std::vector<std::string> unwrap_keys;
  // Entries that are not tensors (non-string keys, ints, nested dicts, ...)
  // are listed in TorchCheckpoint::skipped instead of raising.
  bool skip_non_tensors = false;
  // Checks the CRC-32 of every zip record that is read (like PyTorch's reader).
  bool verify_crc32 = true;
  TorchCheckpointLimits limits;
};

enum class TorchCheckpointFormat { Zip, Legacy };

struct TorchCheckpoint {
  // In the file's order; CPU, contiguous, each with its own memory (tensors
  // that shared a storage in the file are copied apart). Storage dtypes map to
  // Sono dtypes as: Float f32, Double f64, BFloat16 bf16, Long i64, Int i32,
  // Byte u8, and widened: Half -> f32, Short/Char -> i32, Bool -> u8 (0/1).
  NamedTensors tensors;
  TorchCheckpointFormat format = TorchCheckpointFormat::Zip;
  std::string archive_name;            // zip only: the records' folder ("best_model", "archive")
  std::string unwrapped_key;           // the unwrap_keys entry used; "" when top level
  std::vector<std::string> skipped;    // non-tensor entries (skip_non_tensors): "'epoch' (int 3)"
  std::vector<std::string> locations;  // distinct storage locations seen ("cpu", "cuda:0"), ignored
};

// Reads a checkpoint file. Throws sono::Error("torch checkpoint: <path>: ...")
// naming what is wrong: not a checkpoint, truncated or corrupt records,
// compressed or encrypted zip entries, a refused global, an unsupported pickle
// opcode, a tensor outside its storage, a limit exceeded, ...
TorchCheckpoint read_torch_checkpoint(const std::string& path, const TorchCheckpointOptions& options = {});

// The same from memory; `name` stands for the path in error messages.
TorchCheckpoint parse_torch_checkpoint(const uint8_t* data, size_t size, const std::string& name,
                                       const TorchCheckpointOptions& options = {});

const char* torch_checkpoint_format_name(TorchCheckpointFormat f);  // "zip" / "legacy"

}  // namespace sono::nn
