#pragma once
// Facts about this build of Sono and the machine it runs on (`sono doctor`).
#include <cstdint>
#include <string>

namespace sono {

struct BuildInfo {
  std::string version;  // the project's version (CMakeLists.txt)
  bool cuda = false;    // the CUDA backend is compiled in
  // CPU instruction sets the compiler was allowed to use (-march), and
  // whether this CPU has them: a binary built for AVX2/FMA stops with an
  // illegal instruction on a CPU without them.
  bool compiled_avx2 = false, compiled_fma = false;
  bool cpu_avx2 = false, cpu_fma = false;
  int cpu_threads = 0;  // sono::num_threads(): what the CPU kernels use (core/parallel.h)
  std::string compiler;
};

BuildInfo build_info();

// The host's memory from /proc/meminfo (MemTotal, MemAvailable), falling back
// to sysconf where it cannot be read; 0 when neither says.
struct HostMemory {
  uint64_t total = 0;
  uint64_t available = 0;
};
HostMemory host_memory();

}  // namespace sono
