#pragma once
// Guards for memory-safety bugs of the stb_image this project builds with
// (v2.27, Debian 12's libstb-dev), found by fuzz/image_resize_fuzz.cpp.
// image.cpp runs this walk over every JPEG before stb sees it:
// - a DHT segment declaring more than 256 Huffman codes makes
//   stbi__build_huffman write past its tables (upstream fixed it in v2.28
//   with the same check);
// - a scan that decodes with a Huffman table no DHT segment defined makes stb
//   read its never-initialised table (its decoder state is malloc'ed), and
//   index past the table's arrays with what it finds there.
#include <cstddef>
#include <cstdint>
#include <string>

namespace sono::data {

// Empty when the JPEG in `data` is safe to give to stb; else what is wrong
// ("a Huffman table with more than 256 codes", "a scan uses AC Huffman table
// 1, which the file does not define"). Other damage is left to the decoder;
// data that is not a JPEG passes.
std::string jpeg_huffman_problem(const uint8_t* data, size_t size);

}  // namespace sono::data
