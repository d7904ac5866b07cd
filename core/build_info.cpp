#include "core/build_info.h"

#include <unistd.h>

#include <fstream>
#include <sstream>

#include "core/device.h"
#include "core/parallel.h"

#ifndef SONO_VERSION
#define SONO_VERSION "0.1"
#endif

namespace sono {

BuildInfo build_info() {
  BuildInfo b;
  b.version = SONO_VERSION;
  b.cuda = cuda_compiled();
#if defined(__AVX2__)
  b.compiled_avx2 = true;
#endif
#if defined(__FMA__)
  b.compiled_fma = true;
#endif
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();
  b.cpu_avx2 = __builtin_cpu_supports("avx2");
  b.cpu_fma = __builtin_cpu_supports("fma");
#endif
  b.cpu_threads = num_threads();
#if defined(__clang__)
  b.compiler = "clang " __clang_version__;
#elif defined(__GNUC__)
  b.compiler = "gcc " __VERSION__;
#endif
  return b;
}

HostMemory host_memory() {
  HostMemory m;
  std::ifstream f("/proc/meminfo");
  for (std::string line; std::getline(f, line);) {
    std::istringstream in(line);
    std::string key;
    uint64_t kib = 0;
    if (!(in >> key >> kib)) continue;
    if (key == "MemTotal:") m.total = kib * 1024;
    if (key == "MemAvailable:") m.available = kib * 1024;
  }
  const long page = sysconf(_SC_PAGESIZE);
  if (m.total == 0 && page > 0) m.total = uint64_t(sysconf(_SC_PHYS_PAGES)) * uint64_t(page);
  if (m.available == 0 && page > 0) m.available = uint64_t(sysconf(_SC_AVPHYS_PAGES)) * uint64_t(page);
  return m;
}

}  // namespace sono
