#include <doctest/doctest.h>

#include <fstream>
#include <functional>
#include <iterator>

#include "data/image.h"
#include "data/jpeg_check.h"
#include "tests/data/data_test_util.h"

using namespace sono;
using namespace sono::data;
using sono::data::test::read_all;
using sono::data::test::TempDir;
using sono::data::test::write_file;
namespace fs = std::filesystem;

namespace {

Image pattern(int64_t h, int64_t w, int64_t c, int seed) {
  Image img(h, w, c);
  for (size_t i = 0; i < img.pixels.size(); ++i) img.pixels[i] = uint8_t((i * 37 + size_t(seed) * 101 + 7) % 256);
  return img;
}

std::string bytes(std::initializer_list<int> v) {
  std::string s;
  for (int b : v) s.push_back(char(b));
  return s;
}

}  // namespace

TEST_CASE("read_image: PNG round trips, gray is replicated, alpha dropped") {
  TempDir dir("image");
  Image rgb = pattern(5, 7, 3, 1), gray = pattern(4, 3, 1, 2), rgba = pattern(2, 3, 4, 3);
  write_png((dir / "rgb.png").string(), rgb);
  write_png((dir / "gray.png").string(), gray);
  write_png((dir / "rgba.png").string(), rgba);

  Image a = read_image((dir / "rgb.png").string());
  CHECK(a.height == 5);
  CHECK(a.width == 7);
  CHECK(a.channels == 3);
  CHECK(a.pixels == rgb.pixels);

  Image g = read_image((dir / "gray.png").string());
  REQUIRE(g.channels == 3);
  for (int64_t y = 0; y < 4; ++y)
    for (int64_t x = 0; x < 3; ++x)
      for (int64_t c = 0; c < 3; ++c) CHECK(g.at(y, x, c) == gray.at(y, x));

  Image r = read_image((dir / "rgba.png").string());
  REQUIRE(r.channels == 3);
  for (int64_t y = 0; y < 2; ++y)
    for (int64_t x = 0; x < 3; ++x)
      for (int64_t c = 0; c < 3; ++c) CHECK(r.at(y, x, c) == rgba.at(y, x, c));

  ImageInfo info = read_image_info((dir / "gray.png").string());
  CHECK(info.height == 4);
  CHECK(info.width == 3);
  CHECK(info.channels == 1);
}

TEST_CASE("read_image: 16-bit PNG keeps the high byte like cv2.imread, BMP decodes") {
  TempDir dir("image16");
  // cv2.imencode('.png', uint16 [[0, 255, 256, 65535], [1000, 40000, 511, 30000]])
  write_file(dir / "g16.png",
             bytes({137, 80,  78,  71,  13, 10,  26,  10,  0,   0,   0,   13,  73,  72,  68,  82, 0,   0,   0,  4,  0,
                    0,   0,   2,   16,  0,  0,   0,   0,   10,  83,  254, 252, 0,   0,   0,   26, 73,  68,  65, 84, 8,
                    29,  99,  100, 96,  96, 248, 207, 200, 248, 239, 63,  35,  243, 139, 153, 17, 169, 251, 75, 12, 1,
                    51,  192, 6,   166, 97, 0,   81,  55,  0,   0,   0,   0,   73,  69,  78,  68, 174, 66,  96, 130}));
  Image g = read_image((dir / "g16.png").string());
  REQUIRE(g.height == 2);
  REQUIRE(g.width == 4);
  // cv2.imread(IMREAD_COLOR) gives these values (v >> 8) in all three channels.
  const int expected[2][4] = {{0, 0, 1, 255}, {3, 156, 1, 117}};
  for (int64_t y = 0; y < 2; ++y)
    for (int64_t x = 0; x < 4; ++x)
      for (int64_t c = 0; c < 3; ++c) CHECK(int(g.at(y, x, c)) == expected[y][x]);
  // 16-bit masks are rejected: their class values would change.
  CHECK_THROWS_WITH_AS(read_mask((dir / "g16.png").string(), 2), doctest::Contains("16-bit"), Error);

  // cv2.imencode('.bmp', BGR [[[10,20,30],[40,50,60],[70,80,90]], [[100,110,120],[130,140,150],[160,170,180]]])
  write_file(dir / "c.bmp", bytes({66,  77,  78,  0, 0, 0, 0,  0,  0,  0,  54, 0,  0,  0,  40,  0,   0,   0,   3,   0,
                                   0,   0,   2,   0, 0, 0, 1,  0,  24, 0,  0,  0,  0,  0,  0,   0,   0,   0,   0,   0,
                                   0,   0,   0,   0, 0, 0, 0,  0,  0,  0,  0,  0,  0,  0,  100, 110, 120, 130, 140, 150,
                                   160, 170, 180, 0, 0, 0, 10, 20, 30, 40, 50, 60, 70, 80, 90,  0,   0,   0}));
  Image b = read_image((dir / "c.bmp").string());
  REQUIRE(b.height == 2);
  REQUIRE(b.width == 3);
  CHECK(int(b.at(0, 0, 0)) == 30);  // RGB order: the file's BGR (10, 20, 30) reads as R=30
  CHECK(int(b.at(0, 0, 2)) == 10);
  CHECK(int(b.at(1, 2, 0)) == 180);

  // The same pixels stored top-down (height -2, the first row first): the header's size is 2 rows, not -2.
  // stb's own header reader said -2, so detection boxes in such an image were refused (found by fuzzing).
  std::string top_down = read_all((dir / "c.bmp").string());
  top_down[22] = char(0xFE);
  for (int k = 23; k < 26; ++k) top_down[size_t(k)] = char(0xFF);
  top_down = top_down.substr(0, 54) + top_down.substr(66, 12) + top_down.substr(54, 12);
  write_file(dir / "top_down.bmp", top_down);
  const ImageInfo info = read_image_info((dir / "top_down.bmp").string());
  CHECK(info.height == 2);
  CHECK(info.width == 3);
  const Image t = read_image((dir / "top_down.bmp").string());
  CHECK(t.pixels == b.pixels);
}

TEST_CASE("read_image / read_mask: errors name the file") {
  TempDir dir("image_err");
  const std::string missing = (dir / "nope.png").string();
  CHECK_THROWS_WITH_AS(read_image(missing), doctest::Contains(missing.c_str()), Error);
  CHECK_THROWS_WITH_AS(read_image_info(missing), doctest::Contains(missing.c_str()), Error);
  write_file(dir / "junk.png", "not an image at all");
  const std::string junk = (dir / "junk.png").string();
  CHECK_THROWS_WITH_AS(read_image(junk), doctest::Contains(junk.c_str()), Error);
  CHECK_THROWS_WITH_AS(write_png((dir / "x.png").string(), Image(2, 2, 2)), doctest::Contains("2-channel"), Error);
  // A directory is a sono::Error naming it (fuzz/csv_dataset_fuzz.cpp found a std::ios_failure here).
  CHECK_THROWS_WITH_AS(read_image_info(dir.str()), doctest::Contains(dir.str().c_str()), Error);
  CHECK_THROWS_WITH_AS(read_image(dir.str()), doctest::Contains(dir.str().c_str()), Error);
  CHECK_THROWS_WITH_AS(read_mask(dir.str(), 2), doctest::Contains(dir.str().c_str()), Error);
}

TEST_CASE("read_mask: class values, gray-as-colour and colour masks") {
  TempDir dir("mask");
  Image m(3, 4, 1);
  for (size_t i = 0; i < m.pixels.size(); ++i) m.pixels[i] = uint8_t(i % 3);
  const std::string path = (dir / "m.png").string();
  write_png(path, m);
  CHECK(read_mask(path, 3).pixels == m.pixels);
  CHECK_THROWS_WITH_AS(read_mask(path, 2), doctest::Contains("holds value 2 at x=2, y=0"), Error);
  CHECK_THROWS_WITH_AS(read_mask(path, 2), doctest::Contains(path.c_str()), Error);

  Image rgb(3, 4, 3);  // equal channels: accepted (cv2's gray conversion keeps the values)
  for (size_t i = 0; i < m.pixels.size(); ++i)
    for (int c = 0; c < 3; ++c) rgb.pixels[i * 3 + size_t(c)] = m.pixels[i];
  write_png((dir / "rgb.png").string(), rgb);
  CHECK(read_mask((dir / "rgb.png").string(), 3).pixels == m.pixels);
  rgb.at(1, 1, 2) = 0;
  rgb.at(1, 1, 0) = 1;
  write_png((dir / "colour.png").string(), rgb);
  CHECK_THROWS_WITH_AS(read_mask((dir / "colour.png").string(), 3), doctest::Contains("colour pixels (at x=1, y=1"),
                       Error);
}

namespace {

// A PNG header (signature, IHDR of the given size, 8-bit RGB) with no image data.
std::string png_header(uint32_t w, uint32_t h) {
  std::string s = bytes({0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n', 0, 0, 0, 13, 'I', 'H', 'D', 'R'});
  for (uint32_t v : {w, h})
    for (int k = 3; k >= 0; --k) s.push_back(char((v >> (8 * k)) & 0xff));
  s += bytes({8, 2, 0, 0, 0, 0, 0, 0, 0});  // depth, colour type, compression, filter, interlace, CRC
  return s;
}

}  // namespace

TEST_CASE("image readers say what is wrong: a directory, too large, a PNG without IEND") {
  TempDir dir("image_bad");
  fs::create_directories(dir / "folder.png");
  using Reader = std::function<void(const std::string&)>;
  const std::vector<Reader> readers = {[](const std::string& p) { read_image_info(p); },
                                       [](const std::string& p) { read_image(p); },
                                       [](const std::string& p) { read_mask(p, 2); }};
  for (const Reader& f : readers)
    CHECK_THROWS_WITH_AS(f((dir / "folder.png").string()), doctest::Contains("is a directory, not an image file"),
                         Error);
  CHECK_THROWS_WITH_AS(read_image((dir / "none.png").string()), doctest::Contains("does not exist"), Error);

  // stb says "not of any known type" for this header; the message gives the size and the limit.
  write_file(dir / "huge.png", png_header(100000, 100000));
  for (const Reader& f : readers)
    CHECK_THROWS_WITH_AS(f((dir / "huge.png").string()),
                         doctest::Contains("is too large: its header says 100000x100000 (width x height) = "
                                           "10000000000 pixels, the limit is 268435456 pixels"),
                         Error);

  // The largest header a PNG can state: the product needs all 64 bits (it overflowed int64, found by fuzzing).
  write_file(dir / "largest.png", png_header(0xFFFFFFFFu, 0xFFFFFFFFu));
  for (const Reader& f : readers)
    CHECK_THROWS_WITH_AS(f((dir / "largest.png").string()),
                         doctest::Contains("its header says 4294967295x4294967295 (width x height) = "
                                           "18446744065119617025 pixels"),
                         Error);

  // A valid PNG cut before its IEND chunk: stb decodes it, Sono refuses it as truncated.
  write_png((dir / "ok.png").string(), pattern(6, 5, 3, 4));
  const std::string whole = read_all((dir / "ok.png").string());
  write_file(dir / "no_iend.png", whole.substr(0, whole.size() - 12));
  CHECK(read_image((dir / "ok.png").string()).height == 6);
  CHECK(read_image_info((dir / "no_iend.png").string()).height == 6);  // the header alone is fine
  for (size_t k = 1; k < readers.size(); ++k)
    CHECK_THROWS_WITH_AS(readers[k]((dir / "no_iend.png").string()), doctest::Contains("is truncated: it ends after"),
                         Error);
  // A truncated body (the usual damaged download) is refused the same way.
  write_file(dir / "cut.png", whole.substr(0, whole.size() / 2));
  CHECK_THROWS_WITH_AS(read_image((dir / "cut.png").string()), doctest::Contains("cut.png"), Error);
}

// A zero-length IDAT chunk is legal and carries nothing; before the first real
// one it made stb_image 2.27 memcpy to a null pointer (UBSan; the fuzz input is
// fuzz/corpus/image_resize/crash-stb-getn-memcpy-null). It decodes as without it.
TEST_CASE("read_image / read_mask: zero-length IDAT chunks decode as if absent") {
  TempDir dir("image_idat");
  const Image img = pattern(4, 3, 1, 9);
  write_png((dir / "plain.png").string(), img);
  const std::string plain = read_all((dir / "plain.png").string());
  const std::string empty_idat = bytes({0, 0, 0, 0, 'I', 'D', 'A', 'T', 0x35, 0xAF, 0x06, 0x1E});
  const size_t first_chunk = 8 + 12 + 13;  // signature, IHDR
  std::string padded = plain.substr(0, first_chunk) + empty_idat + plain.substr(first_chunk);
  padded.insert(padded.size() - 12, empty_idat);  // one before IEND as well
  write_file(dir / "padded.png", padded);
  const Image a = read_image((dir / "padded.png").string());
  CHECK(a.pixels == read_image((dir / "plain.png").string()).pixels);
  CHECK(read_mask((dir / "padded.png").string(), 256).pixels == img.pixels);
}

// stb_image 2.27 writes past its Huffman tables for a DHT segment of more than
// 256 codes (data/jpeg_check.h; found by fuzz/image_resize_fuzz.cpp, whose
// crashing input is kept in fuzz/corpus/image_resize/): refused before stb sees it.
TEST_CASE("read_image / read_mask / read_image_info: a JPEG Huffman table of more than 256 codes is refused") {
  TempDir dir("image");
  std::string jpeg = bytes({0xFF, 0xD8, 0xFF, 0xC4, 0x01, 0x23, 0x00});  // DHT of 2 + 17 + 272 bytes, table 0/0
  for (int i = 0; i < 16; ++i) jpeg.push_back(char(17));                 // 16 x 17 = 272 codes
  jpeg += std::string(272, '\0') + bytes({0xFF, 0xD9});
  const auto* p = reinterpret_cast<const uint8_t*>(jpeg.data());
  CHECK_FALSE(jpeg_huffman_problem(p, jpeg.size()).empty());
  write_file(dir / "dht.jpg", jpeg);
  const std::string path = (dir / "dht.jpg").string();
  CHECK_THROWS_WITH_AS(read_image(path), doctest::Contains("more than 256 codes"), Error);
  CHECK_THROWS_WITH_AS(read_mask(path, 2), doctest::Contains("more than 256 codes"), Error);
  CHECK_THROWS_WITH_AS(read_image_info(path), doctest::Contains("dht.jpg"), Error);

  // 256 codes is the limit, as in stb 2.28; a table cut short by the end of the file counts what is there.
  std::string ok = bytes({0xFF, 0xD8, 0xFF, 0xC4, 0x01, 0x13, 0x00});
  for (int i = 0; i < 16; ++i) ok.push_back(char(16));
  ok += std::string(256, '\0');
  CHECK(jpeg_huffman_problem(reinterpret_cast<const uint8_t*>(ok.data()), ok.size()).empty());
  std::string cut = bytes({0xFF, 0xD8, 0xFF, 0xC4, 0x00, 0x40, 0x00, 0xFF, 0xFF});
  CHECK_FALSE(jpeg_huffman_problem(reinterpret_cast<const uint8_t*>(cut.data()), cut.size()).empty());
  cut.resize(cut.size() - 1);
  CHECK(jpeg_huffman_problem(reinterpret_cast<const uint8_t*>(cut.data()), cut.size()).empty());
  // stb takes 0xFF bytes before the start marker as fill (the second finding).
  CHECK_FALSE(jpeg_huffman_problem(reinterpret_cast<const uint8_t*>(("\xFF" + jpeg).data()), jpeg.size() + 1).empty());
  write_file(dir / "fill.jpg", "\xFF\xFF" + jpeg);
  CHECK_THROWS_WITH_AS(read_image((dir / "fill.jpg").string()), doctest::Contains("more than 256 codes"), Error);
  // A segment that is not a JPEG, or a JPEG without a DHT, passes.
  CHECK(jpeg_huffman_problem(reinterpret_cast<const uint8_t*>("\x89PNG"), 4).empty());
}

// A scan decoding with a Huffman table that no DHT segment defined made stb
// 2.27 read its uninitialised table and index past it (UBSan; the fuzz input
// is fuzz/corpus/image_resize/crash-jpeg-undefined-huffman-table). Files from
// a real encoder (tests/data/images/, Pillow) must all still decode.
TEST_CASE("read_image: real encoders' JPEGs decode, and a scan using an undefined Huffman table is refused") {
  const std::string images = std::string(SONO_TEST_DATA_DIR) + "/images/";
  for (const char* name :
       {"baseline.jpg", "progressive.jpg", "progressive_optimized_420.jpg", "progressive_gray.jpg"}) {
    CAPTURE(name);
    const Image img = read_image(images + name);
    CHECK(img.height == 16);
    CHECK(img.width == 24);
  }
  TempDir dir("image_jpeg_tables");
  const std::string baseline = read_all(images + "baseline.jpg");
  const size_t sos = baseline.find("\xFF\xDA");
  REQUIRE(sos != std::string::npos);
  // Pillow defines DC and AC tables 0 and 1; the first component's selector byte follows Ns and its id.
  std::string ac2 = baseline, dc3 = baseline;
  ac2[sos + 6] = char(0x02);
  dc3[sos + 6] = char(0x30);
  write_file(dir / "ac2.jpg", ac2);
  write_file(dir / "dc3.jpg", dc3);
  CHECK_THROWS_WITH_AS(read_image((dir / "ac2.jpg").string()),
                       doctest::Contains("a scan uses AC Huffman table 2, which the file does not define"), Error);
  CHECK_THROWS_WITH_AS(read_mask((dir / "dc3.jpg").string(), 256),
                       doctest::Contains("a scan uses DC Huffman table 3, which the file does not define"), Error);
  // Progressive: an AC scan (Ss > 0) needs its AC table, a first DC scan its DC table.
  std::string prog = read_all(images + "progressive.jpg");
  size_t at = 0;
  for (size_t p = prog.find("\xFF\xDA"); p != std::string::npos; p = prog.find("\xFF\xDA", p + 2)) {
    const size_t ns = uint8_t(prog[p + 4]);
    if (uint8_t(prog[p + 5 + 2 * ns]) > 0) {
      at = p + 6;
      break;
    }
  }
  REQUIRE(at != 0);
  prog[at] = char((uint8_t(prog[at]) & 0xF0) | 3);
  write_file(dir / "prog_ac3.jpg", prog);
  CHECK_THROWS_WITH_AS(read_image((dir / "prog_ac3.jpg").string()), doctest::Contains("AC Huffman table 3"), Error);
  const std::string fuzz_input =
      read_all(std::string(SONO_TEST_DATA_DIR) + "/../../fuzz/corpus/image_resize/crash-jpeg-undefined-huffman-table");
  CHECK_FALSE(jpeg_huffman_problem(reinterpret_cast<const uint8_t*>(fuzz_input.data()), fuzz_input.size()).empty());
}
