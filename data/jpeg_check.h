#pragma once
// A guard for a memory-safety bug of the stb_image this project builds with
// (v2.27, Debian 12's libstb-dev): a JPEG DHT segment declaring more than 256
// Huffman codes makes stbi__build_huffman write past its tables (upstream
// fixed it in v2.28 with the same check). image.cpp runs this walk over every
// JPEG before stb sees it. Found by fuzz/image_resize_fuzz.cpp.
#include <cstddef>
#include <cstdint>

namespace sono::data {

// False when a DHT segment of the JPEG in `data` (anywhere: before the frame
// or between the scans of a progressive file) declares more than 256 codes.
// Other damage is left to the decoder; data that is not a JPEG passes.
bool jpeg_huffman_tables_ok(const uint8_t* data, size_t size);

}  // namespace sono::data
