#pragma once
// Annotations that let one inline function serve both backends: the CPU build
// compiles it as plain C++, nvcc as a __host__ __device__ function.
#if defined(__CUDACC__)
#define SONO_HD __host__ __device__ __forceinline__
#else
#define SONO_HD inline
#endif
