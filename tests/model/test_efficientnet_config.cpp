#include <doctest/doctest.h>

#include "model/efficientnet_config.h"

using namespace sono;
using namespace sono::model;
using sono::nn::Padding2d;

TEST_CASE("efficientnet config: channel and repeat rounding") {
  EfficientNetConfig b4 = efficientnet_config("efficientnet-b4");
  CHECK(round_filters(32, b4) == 48);
  CHECK(round_filters(16, b4) == 24);
  CHECK(round_filters(24, b4) == 32);
  CHECK(round_filters(40, b4) == 56);
  CHECK(round_filters(80, b4) == 112);
  CHECK(round_filters(112, b4) == 160);
  CHECK(round_filters(192, b4) == 272);
  CHECK(round_filters(320, b4) == 448);
  CHECK(round_filters(1280, b4) == 1792);
  CHECK(round_repeats(1, b4) == 2);
  CHECK(round_repeats(3, b4) == 6);
  CHECK(round_repeats(4, b4) == 8);
  EfficientNetConfig b0 = efficientnet_config("efficientnet-b0");
  CHECK(round_filters(32, b0) == 32);
  CHECK(round_repeats(3, b0) == 3);
  // int(c*w + 4) // 8 * 8, then + 8 when that fell below 90% of c*w
  EfficientNetConfig w = b0;
  w.width = 1.1;  // 17.6 -> int(21.6) // 8 * 8 = 16 >= 15.84
  CHECK(round_filters(16, w) == 16);
  w.width = 0.2875;  // 11.5 -> int(15.5) // 8 * 8 = 8 < 10.35 -> 16
  CHECK(round_filters(40, w) == 16);
  w.width = 0.05;  // 2 -> int(6) // 8 * 8 = 0, raised to the divisor
  CHECK(round_filters(40, w) == 8);
  CHECK_THROWS_WITH_AS(efficientnet_config("efficientnet-b9"), doctest::Contains("efficientnet-b9"), Error);
}

TEST_CASE("efficientnet config: static TF-same padding formula") {
  CHECK(static_same_padding(380, 3, 2) == Padding2d{0, 1, 0, 1});
  CHECK(static_same_padding(95, 5, 2) == Padding2d{2, 2, 2, 2});
  CHECK(static_same_padding(24, 5, 2) == Padding2d{1, 2, 1, 2});
  CHECK(static_same_padding(64, 5, 2) == Padding2d{1, 2, 1, 2});  // what dynamic padding would use at 256
  CHECK(static_same_padding(17, 3, 1) == Padding2d{1, 1, 1, 1});
  CHECK(static_same_padding(17, 1, 1) == Padding2d{0, 0, 0, 0});
}

TEST_CASE("efficientnet config: B4 plan matches docs/reference-model.md 2.2 and the 2.4 padding table") {
  EfficientNetPlan p = plan_efficientnet(efficientnet_config("efficientnet-b4"));
  REQUIRE(p.blocks.size() == 32);
  CHECK(p.stem_channels == 48);
  CHECK(p.stem_padding == Padding2d{0, 1, 0, 1});
  CHECK(p.head_channels == 1792);
  CHECK(p.out_channels == std::array<int64_t, 6>{3, 48, 32, 56, 160, 448});
  CHECK(p.feature_blocks == std::array<int64_t, 4>{5, 9, 21, 31});
  // stage boundaries: first block index, kernel, stride, in, out
  struct Stage {
    int first, last, k, stride;
    int64_t in, out, expand;
  };
  const Stage stages[] = {{0, 1, 3, 1, 48, 24, 1},    {2, 5, 3, 2, 24, 32, 6},     {6, 9, 5, 2, 32, 56, 6},
                          {10, 15, 3, 2, 56, 112, 6}, {16, 21, 5, 1, 112, 160, 6}, {22, 29, 5, 2, 160, 272, 6},
                          {30, 31, 3, 1, 272, 448, 6}};
  for (const Stage& s : stages) {
    for (int i = s.first; i <= s.last; ++i) {
      CAPTURE(i);
      const auto& b = p.blocks[size_t(i)];
      CHECK(b.kernel_size == s.k);
      CHECK(b.stride == (i == s.first ? s.stride : 1));
      CHECK(b.in_channels == (i == s.first ? s.in : s.out));
      CHECK(b.out_channels == s.out);
      CHECK(b.expand_ratio == s.expand);
      CHECK(b.bn_eps == 1e-3);
      CHECK(b.bn_momentum == doctest::Approx(0.01).epsilon(1e-12));
      CHECK(b.drop_connect == doctest::Approx(0.2 * i / 32.0));
      // docs/reference-model.md 2.4: stride-1 depthwise convs pad k/2 on every side; the
      // stride-2 ones were computed at 190, 95, 48 and 24.
      Padding2d expected{s.k / 2, s.k / 2, s.k / 2, s.k / 2};
      if (i == 2 || i == 10) expected = {0, 1, 0, 1};
      if (i == 6) expected = {2, 2, 2, 2};
      if (i == 22) expected = {1, 2, 1, 2};
      CHECK(b.depthwise_padding == expected);
    }
  }
  CHECK(p.blocks[6].depthwise_padding == Padding2d{2, 2, 2, 2});
  CHECK(p.blocks[22].depthwise_padding == Padding2d{1, 2, 1, 2});
}

TEST_CASE("efficientnet config: B0 plan (SMP taps block 8, not the end of stage 5)") {
  EfficientNetPlan p = plan_efficientnet(efficientnet_config("efficientnet-b0"));
  CHECK(p.blocks.size() == 16);
  CHECK(p.stem_channels == 32);
  CHECK(p.head_channels == 1280);
  CHECK(p.out_channels == std::array<int64_t, 6>{3, 32, 24, 40, 112, 320});
  CHECK(p.stem_padding == Padding2d{0, 1, 0, 1});                 // 224, k3 s2
  CHECK(p.blocks[3].depthwise_padding == Padding2d{1, 2, 1, 2});  // 56, k5 s2
}

TEST_CASE("efficientnet config: every variant plans consistently") {
  const int64_t blocks[] = {16, 23, 23, 26, 32, 39, 45, 55};
  for (int v = 0; v < 8; ++v) {
    EfficientNetPlan p = plan_efficientnet(efficientnet_config("efficientnet-b" + std::to_string(v)));
    CHECK(int64_t(p.blocks.size()) == blocks[v]);
    CHECK(p.feature_blocks[3] == blocks[v] - 1);
  }
}
