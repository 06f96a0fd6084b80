// Cubic resize with ONNX Resize(mode="cubic") semantics over the two innermost axes. See cubic_resize.h for
// the C ABI and NOTES.md beside this file for the design history, the measurements and what limits the speed.
//
// Two kernels:
//  - the four-tap kernel, for every case with 4 taps on both axes (no antialias, or antialias while
//    upscaling) whose source coordinates advance by at most 3 inputs per output. The edge clamp is folded
//    into the weights so that every window is four in-bounds inputs. Each warp owns 128 output columns (per
//    lane a quad of adjacent columns, or two pairs 64 apart) and a strip of output rows. It walks the input
//    rows the strip needs, each loaded once, three rows ahead of use: one run of loads per row serves a
//    whole quad or pair, is filtered horizontally into a ring of four rows held in registers, and every
//    output row whose window ends there (counted per input row once per block) is then written with four
//    vertical FMAs per output. 16-bit pairs on rows of even length load their runs as 32-bit words. In large
//    16-bit launches with aligned rows, each warp instead copies its row segments into a ring in shared
//    memory (asynchronous copies, seven rows ahead, on across planes) and the lanes read their runs there.
//  - the many-tap kernel, for antialias on downscale (about 4/scale taps per axis), large downscale factors
//    and tiny inputs: a 32 x 8 output tile per block, filtered in two passes through shared memory (weights
//    computed on the fly when the tables would not fit).
// Coordinates are computed in double, like the float64 reference; weights and sums are FP32.

#include "cubic_resize.h"

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <algorithm>
#include <atomic>
#include <climits>
#include <cmath>
#include <cstdint>
#include <type_traits>

// Candidate changes to the four-tap kernel, chosen at compile time (CMake: TRTCONVERT_CUBIC_VARIANT) so that
// one GPU run can time them against the default as separate libraries. All off is the default build (v9).
// Each keeps every output bit for bit (same operations on the same values in the same order); NOTES.md,
// "v10 candidates", has the reasoning and the predictions.
//  - TRTC_CUBIC_SHARED_COLUMNS: 16-bit types: a block's column weights are computed once per column (one
//    thread each) and shared through shared memory, instead of by every warp for its 128 columns (four
//    columns per thread). FP32 keeps v9's code (its registers, occupancy and speed are not at stake).
//  - TRTC_CUBIC_FULLER_BLOCKS=N (2 or 4): launches too small to fill the GPU with 64-row strips shorten them
//    only until 1/N of the resident blocks are busy, not all: fewer, taller strips (less halo, fewer set-ups).
//  - TRTC_CUBIC_LEAN_RING: the staged kernel walks its block's rows as one stream unrolled by the ring size,
//    so ring slots are compile-time offsets, and waits for its copies once per two rows.
//  - TRTC_CUBIC_WIDE_QUADS: staged 16-bit quads with a lane on 8 adjacent columns (two quads, the same runs
//    and weights each) and one 16-byte store per output row: the per-row overhead spread over twice the
//    outputs, at more registers.
//  - TRTC_CUBIC_DEEP_QUADS: 16-bit quads run the register kernel with 8 row buffers (7 rows ahead) where a
//    staged launch would give each block few planes to spread its ring's start over.
#ifndef TRTC_CUBIC_SHARED_COLUMNS
#define TRTC_CUBIC_SHARED_COLUMNS 0
#endif
#ifndef TRTC_CUBIC_LEAN_RING
#define TRTC_CUBIC_LEAN_RING 0
#endif
#ifndef TRTC_CUBIC_FULLER_BLOCKS
#define TRTC_CUBIC_FULLER_BLOCKS 0
#endif
#ifndef TRTC_CUBIC_WIDE_QUADS
#define TRTC_CUBIC_WIDE_QUADS 0
#endif
#ifndef TRTC_CUBIC_DEEP_QUADS
#define TRTC_CUBIC_DEEP_QUADS 0
#endif

namespace {

constexpr bool kSharedColumns = TRTC_CUBIC_SHARED_COLUMNS != 0;
constexpr bool kLeanRing = TRTC_CUBIC_LEAN_RING != 0;
constexpr bool kDeepQuads = TRTC_CUBIC_DEEP_QUADS != 0;
constexpr int kFullerBlocks = TRTC_CUBIC_FULLER_BLOCKS > 1 ? TRTC_CUBIC_FULLER_BLOCKS : 1;

// ---------------------------------------------------------------------------------------------------------
// Per-axis description of the coordinate transform and the taps (host-computed, passed by value).

struct AxisMap {
    int n_in;
    int n_out;
    int mode;        // TrtcCoordinateMode
    int exclude;     // exclude_outside
    int normalize;   // antialias: weights are divided by their sum
    int first;       // offset of the first tap from floor(x): floor(-2 / support) + 1
    int ntaps;       // 2 - 2 * first (4 without antialias)
    int identity;    // length and scale unchanged: the axis is copied (taps y - 1 .. y + 2, weights 0 1 0 0)
    float a;         // cubic_coeff_a
    double scale;    // the scale the coordinate transform divides by
    double step;     // source distance between neighbouring outputs: 1 / scale, or align_corners' ratio
    double length;   // scale * n_in: the fractional output length
    double offset;   // half_pixel_symmetric's offset
    double support;  // min(scale, 1) with antialias, otherwise 1
    double x_lo;     // source coordinates are clamped to [x_lo, x_hi]: beyond, every tap is past the edge
    double x_hi;
};

// Division is replaced by a product with the reciprocal computed once on the host: it moves a coordinate by
// an ulp of a double at most, which no weight notices (the interpolation is continuous in the coordinate),
// and it keeps the per-block set-up short.
__device__ __forceinline__ double source_coordinate(const AxisMap& m, int y) {
    const double yd = static_cast<double>(y);
    double x;
    switch (m.mode) {
        case TRTC_COORD_PYTORCH_HALF_PIXEL:
            x = m.n_out == 1 ? 0.0 : (yd + 0.5) * m.step - 0.5;
            break;
        case TRTC_COORD_ALIGN_CORNERS:
            x = yd * m.step;
            break;
        case TRTC_COORD_ASYMMETRIC:
            x = yd * m.step;
            break;
        case TRTC_COORD_HALF_PIXEL_SYMMETRIC:
            x = m.offset + (yd + 0.5) * m.step - 0.5;
            break;
        case TRTC_COORD_TF_HALF_PIXEL_FOR_NN:
            x = (yd + 0.5) * m.step;
            break;
        default:  // TRTC_COORD_HALF_PIXEL
            x = (yd + 0.5) * m.step - 0.5;
            break;
    }
    // Past the clamp every tap reads the edge (or, with exclude_outside, every tap is dropped), so clamping
    // changes no output and keeps floor(x) within int range.
    return fmin(fmax(x, m.x_lo), m.x_hi);
}

// Keys cubic convolution kernel at distance d. The polynomials are factored around their zeros (|d| = 1 and
// 2) and fed differences taken in double, so that a weight near zero keeps its relative precision:
// exclude_outside may renormalise by a sum of such tiny weights, where the plain polynomials in FP32 would
// cancel to noise.
__device__ __forceinline__ float keys(double d, float a) {
    const double ad = fabs(d);
    if (ad <= 1.0) {
        const float e = static_cast<float>(1.0 - ad);
        return e * (-a + e * ((2.0f * a + 3.0f) - (a + 2.0f) * e));
    }
    if (ad < 2.0) {
        const float t = static_cast<float>(ad - 1.0);
        const float v = static_cast<float>(2.0 - ad);
        return a * t * v * v;
    }
    return 0.0f;
}

__device__ __forceinline__ int clamp_index(int i, int n) { return min(max(i, 0), n - 1); }

// The four taps of output index y on a four-tap axis: the first input index (unclamped) and the weights.
__device__ __forceinline__ int taps4(const AxisMap& m, int y, float w[4]) {
    const double x = source_coordinate(m, y);
    const double fl = floor(x);
    const int first = static_cast<int>(fl) - 1;
    // Tap k sits at distance |k - 1 - t| from x: keys() above, written out in t and u = 1 - t.
    const double frac = x - fl;
    const float t = static_cast<float>(frac);
    const float u = static_cast<float>(1.0 - frac);
    const float a = m.a;
    w[0] = a * t * u * u;                                         // W(1 + t)
    w[1] = u * (-a + u * ((2.0f * a + 3.0f) - (a + 2.0f) * u));  // W(t) = W(1 - u)
    w[2] = t * (-a + t * ((2.0f * a + 3.0f) - (a + 2.0f) * t));  // W(1 - t)
    w[3] = a * t * t * u;                                         // W(2 - t)
    if (m.normalize) {
        const float inv = 1.0f / (w[0] + w[1] + w[2] + w[3]);
#pragma unroll
        for (int k = 0; k < 4; ++k) w[k] *= inv;
    }
    if (m.exclude) {
        float sum = 0.0f;
#pragma unroll
        for (int k = 0; k < 4; ++k) {
            const int idx = first + k;
            if (idx < 0 || idx >= m.n_in) w[k] = 0.0f;
            sum += w[k];
        }
        // All taps outside: the output is 0, as in the reference.
        const float inv = sum == 0.0f ? 1.0f : 1.0f / sum;
#pragma unroll
        for (int k = 0; k < 4; ++k) w[k] *= inv;
    }
    // A copied axis has integer coordinates (x = y), so the taps are right; its weights are set exactly (the
    // polynomial and the normalisations could leave the middle one an ulp off 1 for some cubic_coeff_a).
    if (m.identity) {
#pragma unroll
        for (int k = 0; k < 4; ++k) w[k] = k == 1 ? 1.0f : 0.0f;
    }
    return first;
}

// Many-tap axis: first input index of output y (unclamped), the source coordinate and the normalisation
// factor; weight of tap k is tap_weight(...) * scale_out.
struct TapFrame {
    int first;
    double x;
    float factor;
};

__device__ __forceinline__ float raw_weight(const AxisMap& m, const TapFrame& f, int k) {
    return keys(m.support * (static_cast<double>(f.first + k) - f.x), m.a);
}

__device__ __forceinline__ bool tap_inside(const AxisMap& m, int idx) { return idx >= 0 && idx < m.n_in; }

// The sums run in double: an antialiased axis can have thousands of taps (4097 -> 3 has 5464), where FP32
// sums would drift by a few 1e-6. Computed once per block, so the cost does not matter.
__device__ TapFrame tap_frame(const AxisMap& m, int y) {
    TapFrame f;
    f.x = source_coordinate(m, y);
    f.first = static_cast<int>(floor(f.x)) + m.first;
    f.factor = 1.0f;
    if (m.identity) return f;  // tap_weight() gives the copy's exact weights
    double factor = 1.0;
    if (m.normalize) {
        double total = 0.0;
        for (int k = 0; k < m.ntaps; ++k) total += raw_weight(m, f, k);
        factor = 1.0 / total;
    }
    if (m.exclude) {
        double inside = 0.0;
        for (int k = 0; k < m.ntaps; ++k) {
            if (tap_inside(m, f.first + k)) inside += raw_weight(m, f, k);
        }
        inside *= factor;
        factor = inside == 0.0 ? 0.0 : factor / inside;
    }
    f.factor = static_cast<float>(factor);
    return f;
}

__device__ __forceinline__ float tap_weight(const AxisMap& m, const TapFrame& f, int k) {
    if (m.identity) return k == 1 ? 1.0f : 0.0f;
    if (m.exclude && !tap_inside(m, f.first + k)) return 0.0f;
    return raw_weight(m, f, k) * f.factor;
}

// ---------------------------------------------------------------------------------------------------------
// Element types: loads and stores through FP32.

template <typename T>
struct Elem;

template <>
struct Elem<float> {
    static __device__ __forceinline__ float load(const float* p) { return __ldg(p); }
    static __device__ __forceinline__ float to_float(float v) { return v; }
    static __device__ __forceinline__ void store(float* p, float v) { *p = v; }
    static __device__ __forceinline__ void store2(float* p, float a, float b) {
        *reinterpret_cast<float2*>(p) = make_float2(a, b);
    }
    static __device__ __forceinline__ void store4(float* p, const float (&v)[4]) {
        *reinterpret_cast<float4*>(p) = make_float4(v[0], v[1], v[2], v[3]);
    }
};

template <>
struct Elem<__half> {
    static __device__ __forceinline__ float load(const __half* p) { return __half2float(__ldg(p)); }
    static __device__ __forceinline__ float to_float(__half v) { return __half2float(v); }
    static __device__ __forceinline__ void store(__half* p, float v) { *p = __float2half_rn(v); }
    static __device__ __forceinline__ void store2(__half* p, float a, float b) {
        *reinterpret_cast<__half2*>(p) = __floats2half2_rn(a, b);
    }
    static __device__ __forceinline__ void store4(__half* p, const float (&v)[4]) {
        const __half2 lo = __floats2half2_rn(v[0], v[1]);
        const __half2 hi = __floats2half2_rn(v[2], v[3]);
        *reinterpret_cast<uint2*>(p) =
            make_uint2(*reinterpret_cast<const unsigned*>(&lo), *reinterpret_cast<const unsigned*>(&hi));
    }
    static __device__ __forceinline__ void store8(__half* p, const float (&a)[4], const float (&b)[4]) {
        const __half2 h[4] = {__floats2half2_rn(a[0], a[1]), __floats2half2_rn(a[2], a[3]),
                              __floats2half2_rn(b[0], b[1]), __floats2half2_rn(b[2], b[3])};
        *reinterpret_cast<uint4*>(p) =
            make_uint4(*reinterpret_cast<const unsigned*>(&h[0]), *reinterpret_cast<const unsigned*>(&h[1]),
                       *reinterpret_cast<const unsigned*>(&h[2]), *reinterpret_cast<const unsigned*>(&h[3]));
    }
};

template <>
struct Elem<__nv_bfloat16> {
    static __device__ __forceinline__ float load(const __nv_bfloat16* p) { return __bfloat162float(__ldg(p)); }
    static __device__ __forceinline__ float to_float(__nv_bfloat16 v) { return __bfloat162float(v); }
    static __device__ __forceinline__ void store(__nv_bfloat16* p, float v) { *p = __float2bfloat16_rn(v); }
    static __device__ __forceinline__ void store2(__nv_bfloat16* p, float a, float b) {
        *reinterpret_cast<__nv_bfloat162*>(p) = __floats2bfloat162_rn(a, b);
    }
    static __device__ __forceinline__ void store4(__nv_bfloat16* p, const float (&v)[4]) {
        const __nv_bfloat162 lo = __floats2bfloat162_rn(v[0], v[1]);
        const __nv_bfloat162 hi = __floats2bfloat162_rn(v[2], v[3]);
        *reinterpret_cast<uint2*>(p) =
            make_uint2(*reinterpret_cast<const unsigned*>(&lo), *reinterpret_cast<const unsigned*>(&hi));
    }
    static __device__ __forceinline__ void store8(__nv_bfloat16* p, const float (&a)[4], const float (&b)[4]) {
        const __nv_bfloat162 h[4] = {__floats2bfloat162_rn(a[0], a[1]), __floats2bfloat162_rn(a[2], a[3]),
                                     __floats2bfloat162_rn(b[0], b[1]), __floats2bfloat162_rn(b[2], b[3])};
        *reinterpret_cast<uint4*>(p) =
            make_uint4(*reinterpret_cast<const unsigned*>(&h[0]), *reinterpret_cast<const unsigned*>(&h[1]),
                       *reinterpret_cast<const unsigned*>(&h[2]), *reinterpret_cast<const unsigned*>(&h[3]));
    }
};

// Runs of kLen consecutive inputs held in registers from load to use. kWords (16-bit types, even kLen): the
// run starts at an even index of a row of even length and is loaded as 32-bit words, two inputs to a register
// and half the loads; the conversion to FP32 reads either half of a register at no cost.
template <typename T, int kLen, bool kWords>
struct Run {
    T v[kLen];
    __device__ __forceinline__ void load(const T* p) {
#pragma unroll
        for (int q = 0; q < kLen; ++q) v[q] = p[q];
    }
    __device__ __forceinline__ void load_shared(const T* p) { load(p); }
    __device__ __forceinline__ float at(int q) const { return Elem<T>::to_float(v[q]); }
};

template <typename T, int kLen>
struct Run<T, kLen, true> {
    static_assert(sizeof(T) == 2 && kLen % 2 == 0, "word runs hold an even number of 16-bit inputs");
    unsigned w[kLen / 2];
    __device__ __forceinline__ void load(const T* p) {
        const unsigned* pw = reinterpret_cast<const unsigned*>(p);
#pragma unroll
        for (int i = 0; i < kLen / 2; ++i) w[i] = __ldg(pw + i);
    }
    __device__ __forceinline__ void load_shared(const T* p) {
        const unsigned* pw = reinterpret_cast<const unsigned*>(p);
#pragma unroll
        for (int i = 0; i < kLen / 2; ++i) w[i] = pw[i];
    }
    __device__ __forceinline__ float at(int q) const {
        if constexpr (std::is_same_v<T, __nv_bfloat16>) {
            // A bfloat16 is the high half of the float it denotes.
            return __uint_as_float(q % 2 ? w[q / 2] & 0xffff0000u : w[q / 2] << 16);
        } else {
            return __half2float(__ushort_as_half(static_cast<unsigned short>(q % 2 ? w[q / 2] >> 16 : w[q / 2])));
        }
    }
};

// Asynchronous 16-byte copies from global to shared memory (sm_80 and newer; older targets copy through
// registers, which is correct but not asynchronous). Each thread waits for its own copies; a warp barrier
// after the wait makes every lane's copies visible to the others.
__device__ __forceinline__ void copy16_async(void* dst_shared, const void* src_global) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
    const unsigned dst = static_cast<unsigned>(__cvta_generic_to_shared(dst_shared));
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16;\n" ::"r"(dst), "l"(src_global) : "memory");
#else
    *static_cast<uint4*>(dst_shared) = __ldg(static_cast<const uint4*>(src_global));
#endif
}

#if TRTC_CUBIC_LEAN_RING
// Same, to a shared-memory address already converted (lean ring: one conversion per lane, kept in a register).
__device__ __forceinline__ void copy16_async_to(unsigned dst_shared, const void* src_global) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16;\n" ::"r"(dst_shared), "l"(src_global) : "memory");
#else
    *static_cast<uint4*>(__cvta_shared_to_generic(dst_shared)) = __ldg(static_cast<const uint4*>(src_global));
#endif
}

// The value, hidden from the compiler's rematerialisation: ptxas otherwise recomputes a lane's ring address
// from the thread index before every copy (five instructions) rather than keep it in a register.
__device__ __forceinline__ unsigned opaque(unsigned v) {
    unsigned r;
    asm volatile("mov.b32 %0, %1;" : "=r"(r) : "r"(v));
    return r;
}
#endif

__device__ __forceinline__ void copy_async_commit() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
    asm volatile("cp.async.commit_group;\n" ::: "memory");
#endif
}

// Wait until at most kPending of this thread's most recent copy groups are still in flight.
template <int kPending>
__device__ __forceinline__ void copy_async_wait() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
    asm volatile("cp.async.wait_group %0;\n" ::"n"(kPending) : "memory");
#endif
}

// ---------------------------------------------------------------------------------------------------------
// Four-tap kernel.

constexpr int kLaneCols = 4;       // output columns per lane: two pairs 64 apart, or one quad
constexpr int kWarps = 4;          // warps per block, each on its own strip of rows
constexpr int kMaxStripRows = 64;  // rows per warp strip (the launcher may pick fewer)
constexpr int kGroupCols = 32 * kLaneCols;  // output columns of one warp
constexpr int kMaxRowStep = 4;     // most input rows between the windows of neighbouring output rows
constexpr int kMaxStripInputRows = kMaxRowStep * (kMaxStripRows - 1) + 4;
// Staged input (16-bit types): each warp copies the input rows it needs into a ring of kStageSlots row segments
// in shared memory, kStageSlots - 1 rows ahead of use, with asynchronous 16-byte copies.
constexpr int kStageSlots = 8;  // a power of two
constexpr int kStageBytes = 16;  // one copy
// Inputs per segment: the 128 columns of a warp with quads (upscaling: at most 124 + 8 + 7 inputs with the
// alignment of the first copy), or with pairs up to a downscale by about 2.4.
template <int kAdj, bool kWide = false>
__host__ __device__ constexpr int stage_elems() {
    return kWide ? 272 : kAdj == 4 ? 144 : 320;  // wide quads: 256 columns, up to a scale of about 1
}

// Taps of one output index as an in-bounds window of four consecutive inputs: the edge clamp is folded into
// the weights (taps clamped onto the same input add up), which needs an axis of at least 4 inputs.
struct Window {
    int start;
    float w[4];
};

__device__ __forceinline__ Window window4(const AxisMap& m, int y) {
    float w[4];
    const int first = taps4(m, y, w);
    Window win;
    win.start = min(max(first, 0), m.n_in - 4);
#pragma unroll
    for (int p = 0; p < 4; ++p) win.w[p] = 0.0f;
#pragma unroll
    for (int k = 0; k < 4; ++k) {
        const int pos = clamp_index(first + k, m.n_in) - win.start;
#pragma unroll
        for (int p = 0; p < 4; ++p) win.w[p] += pos == p ? w[k] : 0.0f;
    }
    return win;
}

// Each lane owns kLaneCols output columns in groups of kAdj adjacent ones (pairs 64 apart, or one quad). The
// windows of a group lie inside kSpan consecutive inputs: 4 plus the largest step between the windows of
// the group's first and last column. One run of kSpan loads per input row serves the whole group; each
// column's four weights are spread over the span, zeros elsewhere.
//
// Input rows reach the lanes in one of two ways. Unstaged: each lane loads its runs from global memory into
// four register buffers, three rows ahead of use, anew for every plane. Staged (kStaged): the warp copies
// the row segment its 128 columns need into a ring of shared-memory slots with asynchronous copies,
// kStageSlots - 1 rows ahead and straight on across the block's planes, and each lane reads its runs from
// there; the prefetch then costs no registers, so it can run deeper and more warps fit on an SM.
template <typename T, int kAdj, int kSpan, bool kWords, bool kStaged, bool kWide = false>
__device__ __forceinline__ void cubic4_rows(const T* __restrict__ in, T* __restrict__ out, int64_t planes,
                                            int planes_per_block, AxisMap mh, AxisMap mw, int strip_rows,
                                            int col_groups, int vector_stores) {
    // Wide quads: a lane's two quads are adjacent (8 columns, one 16-byte store), a warp's columns 256.
    constexpr int kLaneColumns = kWide ? 2 * kLaneCols : kLaneCols;
    constexpr int kWarpCols = 32 * kLaneColumns;
    constexpr int kGroups = kLaneColumns / kAdj;
    constexpr int kGroupStride = kWide ? kAdj : 32 * kAdj;  // columns between a lane's groups
    constexpr int kChunk = kStageBytes / static_cast<int>(sizeof(T));  // inputs per asynchronous copy
    constexpr int kSlotElems = kStaged ? stage_elems<kAdj, kWide>() : kChunk;
    constexpr int kCopies = (kSlotElems / kChunk + 31) / 32;  // copies per lane and row
    __shared__ float4 row_w[kWarps * kMaxStripRows];
    __shared__ int row_start[kWarps * kMaxStripRows];
    // Per warp, by input row of its strip: how many output rows have their window end there.
    __shared__ int row_ends[kWarps][kMaxStripInputRows];
    __shared__ alignas(16) T stage[kWarps][kStaged ? kStageSlots : 1][kSlotElems];

    const int lane = threadIdx.x & 31;
    const int warp = threadIdx.x >> 5;
    const int group = blockIdx.x % col_groups;
    const int block_row0 = (blockIdx.x / col_groups) * (kWarps * strip_rows);

    // Row windows of this block's rows, shared by every warp and plane.
    for (int r = threadIdx.x; r < kWarps * strip_rows; r += blockDim.x) {
        const Window win = window4(mh, min(block_row0 + r, mh.n_out - 1));
        row_start[r] = win.start;
        row_w[r] = make_float4(win.w[0], win.w[1], win.w[2], win.w[3]);
    }

    // Column weights of this lane, held in registers for every row and plane.
    const int col0 = group * kWarpCols + (kWide ? kLaneColumns : kAdj) * lane;
    int cbase[kGroups];
    float cw[kGroups][kAdj][kSpan];
    if constexpr (kSharedColumns && sizeof(T) == 2 && !kWide) {
        // Every warp of the block has the same 128 columns: thread t computes column t once (the same
        // expressions as below, so the same bits), the first column of its pair or quad sets the run's start,
        // and each lane then reads its columns' weights.
        static_assert(32 * kWarps == kGroupCols, "one thread per column of the block");
        __shared__ alignas(16) float col_w[kSpan][kGroupCols];
        __shared__ int col_base[kGroupCols];
        const int t = threadIdx.x;
        const Window win = window4(mw, min(group * kGroupCols + t, mw.n_out - 1));
        const int lead_start = __shfl_sync(0xffffffffu, win.start, lane & ~(kAdj - 1));
        const int base = min(kWords ? lead_start & ~1 : lead_start, mw.n_in - kSpan);
        const int off = win.start - base;
#pragma unroll
        for (int q = 0; q < kSpan; ++q) {
            float w = 0.0f;
#pragma unroll
            for (int k = 0; k < 4; ++k) w += q == off + k ? win.w[k] : 0.0f;
            col_w[q][t] = w;
        }
        col_base[t] = base;
        __syncthreads();
#pragma unroll
        for (int j = 0; j < kGroups; ++j) {
            const int first_col = kGroupStride * j + kAdj * lane;
            cbase[j] = col_base[first_col];
#pragma unroll
            for (int c = 0; c < kAdj; ++c) {
#pragma unroll
                for (int q = 0; q < kSpan; ++q) cw[j][c][q] = col_w[q][first_col + c];
            }
        }
    } else {
#pragma unroll
        for (int j = 0; j < kGroups; ++j) {
            Window win[kAdj];
#pragma unroll
            for (int c = 0; c < kAdj; ++c) win[c] = window4(mw, min(col0 + kGroupStride * j + c, mw.n_out - 1));
            // Word runs start at an even input: the windows (at most kSpan - 1 wide) still fit in the run.
            cbase[j] = min(kWords ? win[0].start & ~1 : win[0].start, mw.n_in - kSpan);
#pragma unroll
            for (int c = 0; c < kAdj; ++c) {
                const int off = win[c].start - cbase[j];
#pragma unroll
                for (int q = 0; q < kSpan; ++q) {
                    float w = 0.0f;
#pragma unroll
                    for (int k = 0; k < 4; ++k) w += q == off + k ? win[c].w[k] : 0.0f;
                    cw[j][c][q] = w;
                }
            }
        }
        __syncthreads();
    }

    const int sr0 = warp * strip_rows;
    const int row0 = block_row0 + sr0;
    const int rows = min(strip_rows, mh.n_out - row0);
    if (rows <= 0) return;
    // Windows of consecutive rows never skip an input row (the launcher checks the row step), so the strip
    // needs exactly the input rows first..last, each loaded once, three rows ahead of its use.
    const int first_row = row_start[sr0];
    const int last_row = row_start[sr0 + rows - 1] + 3;
    int* const ends = row_ends[warp];
    for (int i = lane; i <= last_row - first_row; i += 32) ends[i] = 0;
    __syncwarp();
    for (int r = lane; r < rows; r += 32) atomicAdd(&ends[row_start[sr0 + r] + 3 - first_row], 1);
    __syncwarp();
    // Every column of this warp inside the output and groups aligned for one store: no per-column checks.
    const bool full = vector_stores && group * kWarpCols + kWarpCols <= mw.n_out;
    const int64_t in_plane = static_cast<int64_t>(mh.n_in) * mw.n_in;
    const int64_t out_plane = static_cast<int64_t>(mh.n_out) * mw.n_out;
    const int64_t plane_begin = static_cast<int64_t>(blockIdx.y) * planes_per_block;
    const int64_t plane_end = min(planes, plane_begin + planes_per_block);

    // Staged input: the warp's row segment starts at the copy holding its first input (lane 0's first run;
    // runs never move left from lane to lane) and ends with the last input of lane 31's last run. The
    // launcher checks that it fits in a slot. Rows of all the block's planes form one stream of copies.
    T* const ring = stage[warp][0];
    T* ring_lane = ring;  // this lane's first copy in slot 0
    bool copy_on[kCopies];
    int run_off[kGroups];
    const T* copy_src = in;  // this lane's first copy in the next row to copy
    int copy_row = 0;        // row of the plane (from first_row) of the next copy
    int use_next = 0;        // index in the stream of the block's rows of the next row to filter
    const int strip_in_rows = last_row - first_row + 1;
    const int stream_rows = static_cast<int>(plane_end - plane_begin) * strip_in_rows;
    const int64_t plane_jump = in_plane - static_cast<int64_t>(strip_in_rows - 1) * mw.n_in;
    if constexpr (kStaged) {
        const int seg0 = __shfl_sync(0xffffffffu, cbase[0], 0) & ~(kChunk - 1);
        const int seg_last = __shfl_sync(0xffffffffu, cbase[kGroups - 1], 31) + kSpan - 1;
        const int seg_chunks = seg_last / kChunk - seg0 / kChunk + 1;
#pragma unroll
        for (int k = 0; k < kCopies; ++k) copy_on[k] = lane + 32 * k < seg_chunks;
#pragma unroll
        for (int j = 0; j < kGroups; ++j) run_off[j] = cbase[j] - seg0;
        copy_src = in + plane_begin * in_plane + static_cast<int64_t>(first_row) * mw.n_in + seg0 + lane * kChunk;
        ring_lane = ring + lane * kChunk;
    }
#if TRTC_CUBIC_LEAN_RING
    if constexpr (kStaged && kLeanRing && !kWide) {  // wide quads keep the v9 ring (registers)
        // The block's input rows as one stream (plane after plane), walked in a loop unrolled by the ring size:
        // stream row u sits in slot u % kStageSlots, a compile-time offset from this lane's ring pointers.
        // Rows are copied in pairs, one copy group each, 6 and 7 rows ahead: one wait and one warp barrier
        // serve two rows. The filter and the output rows are the register kernel's, on the same values.
        static_assert(kStageSlots == 8, "the stream loop is unrolled by the ring size");
        int copy_left = strip_in_rows;  // rows of the current plane still to copy, from copy_src on
        const unsigned ring_lane_shared = opaque(static_cast<unsigned>(__cvta_generic_to_shared(ring_lane)));
        auto copy_one = [&](auto slot, int index) {
            constexpr int S = decltype(slot)::value;
            if (index < stream_rows) {
#pragma unroll
                for (int k = 0; k < kCopies; ++k) {
                    if (copy_on[k]) {
                        copy16_async_to(ring_lane_shared + (S * kSlotElems + 32 * k * kChunk) * sizeof(T),
                                        copy_src + 32 * k * kChunk);
                    }
                }
            }
            copy_src += mw.n_in;
            if (--copy_left == 0) {
                copy_src += plane_jump - mw.n_in;
                copy_left = strip_in_rows;
            }
        };
        copy_one(std::integral_constant<int, 0>(), 0);
        copy_one(std::integral_constant<int, 1>(), 1);
        copy_async_commit();
        copy_one(std::integral_constant<int, 2>(), 2);
        copy_one(std::integral_constant<int, 3>(), 3);
        copy_async_commit();
        copy_one(std::integral_constant<int, 4>(), 4);
        copy_one(std::integral_constant<int, 5>(), 5);
        copy_async_commit();

        int64_t p = plane_begin;
        T* o = out + p * out_plane + static_cast<int64_t>(row0) * mw.n_out + col0;
        const float4* wnext = row_w + sr0;  // weights of the next output row
        const int* end_count = ends;        // output rows ending at the next input row
        int plane_rows_left = strip_in_rows;
        float h[4][kGroups][kAdj];  // horizontal results, by stream row modulo 4

        auto lean_step = [&](auto slot, int u) {
            constexpr int K = decltype(slot)::value;
            if constexpr (K % 2 == 0) {
                // Rows u and u + 1 have landed (the two later pairs may be in flight); the barrier makes the
                // other lanes' copies visible and tells that rows u - 2 and u - 1, whose slots the next pair
                // reuses, have been read by every lane.
                copy_async_wait<2>();
                __syncwarp();
                copy_one(std::integral_constant<int, (K + 6) % kStageSlots>(), u + 6);
                copy_one(std::integral_constant<int, (K + 7) % kStageSlots>(), u + 7);
                copy_async_commit();
            }
            Run<T, kSpan, kWords> staged[kGroups];
#pragma unroll
            for (int j = 0; j < kGroups; ++j) staged[j].load_shared(ring + K * kSlotElems + run_off[j]);
#pragma unroll
            for (int j = 0; j < kGroups; ++j) {
                float v[kSpan];
#pragma unroll
                for (int q = 0; q < kSpan; ++q) v[q] = staged[j].at(q);
#pragma unroll
                for (int c = 0; c < kAdj; ++c) {
                    float acc = 0.0f;
#pragma unroll
                    for (int q = 0; q < kSpan; ++q) acc += cw[j][c][q] * v[q];
                    h[K & 3][j][c] = acc;
                }
            }
#pragma unroll 1
            for (int n = *end_count++; n > 0; --n) {
                const float4 w = *wnext++;
                float r[kGroups][kAdj];
#pragma unroll
                for (int j = 0; j < kGroups; ++j) {
#pragma unroll
                    for (int c = 0; c < kAdj; ++c) {
                        r[j][c] = w.x * h[(K + 1) & 3][j][c] + w.y * h[(K + 2) & 3][j][c] +
                                  w.z * h[(K + 3) & 3][j][c] + w.w * h[K & 3][j][c];
                    }
                }
                if (full) {
                    if constexpr (kWide) {
                        Elem<T>::store8(o, r[0], r[1]);
                    } else {
#pragma unroll
                        for (int j = 0; j < kGroups; ++j) {
                            if constexpr (kAdj == 4) {
                                Elem<T>::store4(o + kGroupStride * j, r[j]);
                            } else {
                                Elem<T>::store2(o + kGroupStride * j, r[j][0], r[j][1]);
                            }
                        }
                    }
                } else {
#pragma unroll
                    for (int j = 0; j < kGroups; ++j) {
#pragma unroll
                        for (int c = 0; c < kAdj; ++c) {
                            const int x = kGroupStride * j + c;
                            if (col0 + x < mw.n_out) Elem<T>::store(o + x, r[j][c]);
                        }
                    }
                }
                o += mw.n_out;
            }
            // Past the strip's last input row every output row of the plane is written: on to the next plane.
            if (--plane_rows_left == 0) {
                ++p;
                o = out + p * out_plane + static_cast<int64_t>(row0) * mw.n_out + col0;
                wnext = row_w + sr0;
                end_count = ends;
                plane_rows_left = strip_in_rows;
            }
        };
        for (int u = 0; u < stream_rows; u += kStageSlots) {
            lean_step(std::integral_constant<int, 0>(), u);
            if (u + 1 >= stream_rows) break;
            lean_step(std::integral_constant<int, 1>(), u + 1);
            if (u + 2 >= stream_rows) break;
            lean_step(std::integral_constant<int, 2>(), u + 2);
            if (u + 3 >= stream_rows) break;
            lean_step(std::integral_constant<int, 3>(), u + 3);
            if (u + 4 >= stream_rows) break;
            lean_step(std::integral_constant<int, 4>(), u + 4);
            if (u + 5 >= stream_rows) break;
            lean_step(std::integral_constant<int, 5>(), u + 5);
            if (u + 6 >= stream_rows) break;
            lean_step(std::integral_constant<int, 6>(), u + 6);
            if (u + 7 >= stream_rows) break;
            lean_step(std::integral_constant<int, 7>(), u + 7);
        }
        return;
    }
#endif
    // Copy row `index` of the stream into its slot (that of the row kStageSlots earlier), then close the
    // copy group: one group per row, empty past the end, so that waits count rows.
    // Past the end the source pointer still advances but is never read.
    auto copy_row_async = [&](int index) {
        const bool more = index < stream_rows;
        T* const dst = ring_lane + (index & (kStageSlots - 1)) * kSlotElems;
#pragma unroll
        for (int k = 0; k < kCopies; ++k) {
            if (more && copy_on[k]) copy16_async(dst + 32 * k * kChunk, copy_src + 32 * k * kChunk);
        }
        const bool plane_done = ++copy_row == strip_in_rows;
        copy_src += plane_done ? plane_jump : static_cast<int64_t>(mw.n_in);
        copy_row = plane_done ? 0 : copy_row;
        copy_async_commit();
    };
    if constexpr (kStaged) {
#pragma unroll 1
        for (int i = 0; i < kStageSlots - 1; ++i) copy_row_async(i);
    }

    for (int64_t p = plane_begin; p < plane_end; ++p) {
        // Next input row to fetch, and the output row to write next.
        const T* fetch = in + p * in_plane + static_cast<int64_t>(first_row) * mw.n_in;
        T* o = out + p * out_plane + static_cast<int64_t>(row0) * mw.n_out + col0;
        const float4* wnext = row_w + sr0;  // weights of the next output row

        // Unstaged: input rows in flight, kBuffers - 1 ahead of use, by row modulo kBuffers.
        constexpr int kBuffers = kDeepQuads && sizeof(T) == 2 && kAdj == 4 && !kStaged ? 8 : 4;
        Run<T, kSpan, kWords> buf[kBuffers][kGroups];
        float h[4][kGroups][kAdj];  // horizontal results, by row modulo 4

        auto fetch_row = [&](Run<T, kSpan, kWords>(&b)[kGroups]) {
#pragma unroll
            for (int j = 0; j < kGroups; ++j) b[j].load(fetch + cbase[j]);
            fetch += mw.n_in;
        };

        // Input row `row`, in slot K = (row - first_row) % kBuffers: fetch the row kBuffers - 1 ahead into the
        // slot freed by row - 1 (unstaged), filter this one horizontally, then write every output row whose
        // window ends here. Slots are compile-time indices, so rows rotate through registers without copies.
        auto step = [&](auto slot, int row) {
            constexpr int K = decltype(slot)::value;
            Run<T, kSpan, kWords> staged[kGroups];
            if constexpr (kStaged) {
                // This lane's copies of the row are done; the barrier makes the other lanes' visible and
                // tells that every lane has read the previous row, whose slot the next copy reuses.
                copy_async_wait<kStageSlots - 2>();
                __syncwarp();
                copy_row_async(use_next + kStageSlots - 1);
                const T* src = ring + (use_next & (kStageSlots - 1)) * kSlotElems;
#pragma unroll
                for (int j = 0; j < kGroups; ++j) staged[j].load_shared(src + run_off[j]);
                ++use_next;
            } else {
                if (row + kBuffers - 1 <= last_row) fetch_row(buf[(K + kBuffers - 1) % kBuffers]);
            }
#pragma unroll
            for (int j = 0; j < kGroups; ++j) {
                float v[kSpan];
#pragma unroll
                for (int q = 0; q < kSpan; ++q) v[q] = kStaged ? staged[j].at(q) : buf[K][j].at(q);
#pragma unroll
                for (int c = 0; c < kAdj; ++c) {
                    float acc = 0.0f;
#pragma unroll
                    for (int q = 0; q < kSpan; ++q) acc += cw[j][c][q] * v[q];
                    h[K & 3][j][c] = acc;
                }
            }
            // The output rows ending here, counted per input row once per block: the loop is a count down.
#pragma unroll 1
            for (int n = ends[row - first_row]; n > 0; --n) {
                const float4 w = *wnext++;
                float r[kGroups][kAdj];
#pragma unroll
                for (int j = 0; j < kGroups; ++j) {
#pragma unroll
                    for (int c = 0; c < kAdj; ++c) {
                        r[j][c] = w.x * h[(K + 1) & 3][j][c] + w.y * h[(K + 2) & 3][j][c] +
                                  w.z * h[(K + 3) & 3][j][c] + w.w * h[K & 3][j][c];
                    }
                }
                if (full) {
                    if constexpr (kWide) {
                        Elem<T>::store8(o, r[0], r[1]);
                    } else {
#pragma unroll
                        for (int j = 0; j < kGroups; ++j) {
                            if constexpr (kAdj == 4) {
                                Elem<T>::store4(o + kGroupStride * j, r[j]);
                            } else {
                                Elem<T>::store2(o + kGroupStride * j, r[j][0], r[j][1]);
                            }
                        }
                    }
                } else {
#pragma unroll
                    for (int j = 0; j < kGroups; ++j) {
#pragma unroll
                        for (int c = 0; c < kAdj; ++c) {
                            const int x = kGroupStride * j + c;
                            if (col0 + x < mw.n_out) Elem<T>::store(o + x, r[j][c]);
                        }
                    }
                }
                o += mw.n_out;
            }
        };

        if constexpr (!kStaged) {
            fetch_row(buf[0]);
#pragma unroll
            for (int i = 1; i < kBuffers - 1; ++i) {
                if (first_row + i <= last_row) fetch_row(buf[i]);
            }
        }
        for (int row = first_row;; row += kBuffers) {
            step(std::integral_constant<int, 0>(), row);
            if (row + 1 > last_row) break;
            step(std::integral_constant<int, 1>(), row + 1);
            if (row + 2 > last_row) break;
            step(std::integral_constant<int, 2>(), row + 2);
            if (row + 3 > last_row) break;
            step(std::integral_constant<int, 3>(), row + 3);
            if (row + 4 > last_row) break;
            if constexpr (kBuffers == 8) {
                step(std::integral_constant<int, 4>(), row + 4);
                if (row + 5 > last_row) break;
                step(std::integral_constant<int, 5>(), row + 5);
                if (row + 6 > last_row) break;
                step(std::integral_constant<int, 6>(), row + 6);
                if (row + 7 > last_row) break;
                step(std::integral_constant<int, 7>(), row + 7);
                if (row + 8 > last_row) break;
            }
        }
    }
}

template <typename T, int kAdj, int kSpan, bool kWords, bool kStaged>
__global__ void __launch_bounds__(32 * kWarps) cubic4_kernel(const T* __restrict__ in, T* __restrict__ out,
                                                             int64_t planes, int planes_per_block,
                                                             AxisMap mh, AxisMap mw, int strip_rows,
                                                             int col_groups, int vector_stores) {
    cubic4_rows<T, kAdj, kSpan, kWords, kStaged>(in, out, planes, planes_per_block, mh, mw, strip_rows, col_groups,
                                                 vector_stores);
}

#if TRTC_CUBIC_WIDE_QUADS
// Wide quads (staged only): 48 column weights and 32 horizontal results per lane; ptxas is left to itself.
template <typename T, int kAdj, int kSpan>
__global__ void __launch_bounds__(32 * kWarps, 4) cubic4_wide_kernel(const T* __restrict__ in, T* __restrict__ out,
                                                                  int64_t planes, int planes_per_block,
                                                                  AxisMap mh, AxisMap mw, int strip_rows,
                                                                  int col_groups, int vector_stores) {
    cubic4_rows<T, kAdj, kSpan, false, true, true>(in, out, planes, planes_per_block, mh, mw, strip_rows, col_groups,
                                                   vector_stores);
}
#endif

// Lean ring: left to itself, ptxas gives the staged pairs 108 to 113 registers (4 blocks per SM against v9's
// 5); a bound of 5 keeps them at 96. Quads get 95 (5 blocks against v9's 6): a bound of 6 spilled inside the
// row loop.
template <typename T, int kAdj, int kSpan, bool kWords>
__global__ void __launch_bounds__(32 * kWarps, 5)
    cubic4_lean_kernel(const T* __restrict__ in, T* __restrict__ out, int64_t planes, int planes_per_block,
                       AxisMap mh, AxisMap mw, int strip_rows, int col_groups, int vector_stores) {
    cubic4_rows<T, kAdj, kSpan, kWords, true>(in, out, planes, planes_per_block, mh, mw, strip_rows, col_groups,
                                              vector_stores);
}

// The kernel a launch of these parameters runs.
template <typename T, int kAdj, int kSpan, bool kWords, bool kStaged, bool kWide = false>
constexpr auto cubic4_entry() {
#if TRTC_CUBIC_WIDE_QUADS
    if constexpr (kWide) return cubic4_wide_kernel<T, kAdj, kSpan>;
#endif
    if constexpr (kLeanRing && kStaged) {
        return cubic4_lean_kernel<T, kAdj, kSpan, kWords>;
    } else {
        return cubic4_kernel<T, kAdj, kSpan, kWords, kStaged>;
    }
}

// ---------------------------------------------------------------------------------------------------------
// Many-tap kernel: a 32 x 8 output tile per block, one thread per output. With kSeparable, the weights are
// tabulated in shared memory and the tile is filtered in two passes: the input rows the tile needs are
// filtered horizontally into shared memory (each input row once), then vertically. Without it (tap counts so
// large that the tables would not fit), every output sums its taps directly, with weights computed on the fly.

constexpr int kTileW = 32;
constexpr int kTileH = 8;
constexpr size_t kMaxSharedBytes = 48 * 1024;

template <typename T, bool kSeparable>
__global__ void __launch_bounds__(kTileW* kTileH) cubicn_kernel(const T* __restrict__ in, T* __restrict__ out,
                                                                int64_t planes, AxisMap mh, AxisMap mw,
                                                                int col_tiles) {
    // [ntaps_w][kTileW] column weights, [kTileH][ntaps_h] row weights, then the horizontal results.
    extern __shared__ float table[];
    __shared__ int col_first[kTileW];
    __shared__ int row_first[kTileH];
    __shared__ float col_factor[kTileW];
    __shared__ float row_factor[kTileH];

    const int tx = threadIdx.x;
    const int ty = threadIdx.y;
    const int x0 = (blockIdx.x % col_tiles) * kTileW;
    const int y0 = (blockIdx.x / col_tiles) * kTileH;
    float* wcol = table;
    float* wrow = table + kTileW * mw.ntaps;
    float* inter = wrow + kTileH * mh.ntaps;

    // Tap frames (and, when separable, the weights) of this tile's columns and rows.
    if (ty == 0) {
        const TapFrame f = tap_frame(mw, min(x0 + tx, mw.n_out - 1));
        col_first[tx] = f.first;
        col_factor[tx] = f.factor;
        if (kSeparable) {
            for (int k = 0; k < mw.ntaps; ++k) wcol[k * kTileW + tx] = tap_weight(mw, f, k);
        }
    } else if (ty == 1 && tx < kTileH) {
        const TapFrame f = tap_frame(mh, min(y0 + tx, mh.n_out - 1));
        row_first[tx] = f.first;
        row_factor[tx] = f.factor;
        if (kSeparable) {
            for (int k = 0; k < mh.ntaps; ++k) wrow[tx * mh.ntaps + k] = tap_weight(mh, f, k);
        }
    }
    __syncthreads();

    const int x = x0 + tx;
    const int y = y0 + ty;
    const bool inside = x < mw.n_out && y < mh.n_out;
    const int cfirst = col_first[tx];
    const int rfirst = row_first[ty];
    const int64_t in_plane = static_cast<int64_t>(mh.n_in) * mw.n_in;
    const int64_t out_plane = static_cast<int64_t>(mh.n_out) * mw.n_out;

    if (kSeparable) {
        // Input rows the tile reads: the launcher sized `inter` for the widest spread of row windows.
        int r_lo = row_first[0];
        int r_hi = row_first[0];
#pragma unroll
        for (int i = 1; i < kTileH; ++i) {
            r_lo = min(r_lo, row_first[i]);
            r_hi = max(r_hi, row_first[i]);
        }
        const int nrows = r_hi - r_lo + mh.ntaps;
        for (int64_t p = blockIdx.y; p < planes; p += gridDim.y) {
            const T* src = in + p * in_plane;
            for (int r = ty; r < nrows; r += kTileH) {
                const T* row = src + static_cast<int64_t>(clamp_index(r_lo + r, mh.n_in)) * mw.n_in;
                float acc = 0.0f;
                for (int k = 0; k < mw.ntaps; ++k) {
                    acc += wcol[k * kTileW + tx] * Elem<T>::load(row + clamp_index(cfirst + k, mw.n_in));
                }
                inter[r * kTileW + tx] = acc;
            }
            __syncthreads();
            if (inside) {
                const float* wy = wrow + ty * mh.ntaps;
                const float* h = inter + (rfirst - r_lo) * kTileW + tx;
                float acc = 0.0f;
                for (int i = 0; i < mh.ntaps; ++i) acc += wy[i] * h[i * kTileW];
                Elem<T>::store(out + p * out_plane + static_cast<int64_t>(y) * mw.n_out + x, acc);
            }
            __syncthreads();
        }
        return;
    }

    if (!inside) return;
    TapFrame fx, fy;
    fx.first = cfirst;
    fx.x = source_coordinate(mw, x);
    fx.factor = col_factor[tx];
    fy.first = rfirst;
    fy.x = source_coordinate(mh, y);
    fy.factor = row_factor[ty];
    for (int64_t p = blockIdx.y; p < planes; p += gridDim.y) {
        // Thousands of taps per output on this path: the sums run in double, the rare case's cost is moot.
        const T* src = in + p * in_plane;
        double acc = 0.0;
        for (int i = 0; i < mh.ntaps; ++i) {
            const float wy = tap_weight(mh, fy, i);
            if (wy == 0.0f) continue;
            const T* r = src + static_cast<int64_t>(clamp_index(rfirst + i, mh.n_in)) * mw.n_in;
            double hsum = 0.0;
            for (int k = 0; k < mw.ntaps; ++k) {
                hsum += tap_weight(mw, fx, k) * Elem<T>::load(r + clamp_index(cfirst + k, mw.n_in));
            }
            acc += wy * hsum;
        }
        Elem<T>::store(out + p * out_plane + static_cast<int64_t>(y) * mw.n_out + x, static_cast<float>(acc));
    }
}

// ---------------------------------------------------------------------------------------------------------
// Host side.

bool make_axis(int64_t n_in, int64_t n_out, float given_scale, const TrtcCubicResizeParams& p, AxisMap* m) {
    m->n_in = static_cast<int>(n_in);
    m->n_out = static_cast<int>(n_out);
    m->mode = p.coordinate_mode;
    m->exclude = p.exclude_outside;
    m->normalize = p.antialias;
    m->a = p.cubic_coeff_a;
    m->scale = given_scale > 0.0f ? static_cast<double>(given_scale)
                                  : static_cast<double>(n_out) / static_cast<double>(n_in);
    if (!std::isfinite(m->scale) || !(m->scale > 0.0)) return false;
    m->length = m->scale * static_cast<double>(n_in);
    m->step = 1.0 / m->scale;
    if (p.coordinate_mode == TRTC_COORD_ALIGN_CORNERS) {
        m->step = m->length == 1.0 ? 0.0 : static_cast<double>(n_in - 1) / (m->length - 1.0);
    }
    m->offset = static_cast<double>(n_in) / 2.0 * (1.0 - static_cast<double>(n_out) / m->length);
    m->support = p.antialias ? std::fmin(m->scale, 1.0) : 1.0;
    const double first = std::floor(-2.0 / m->support) + 1.0;
    // Beyond about 2^20 taps per axis the kernel would be hopelessly slow; refuse rather than hang.
    if (!(first > -(1 << 20))) return false;
    m->first = static_cast<int>(first);
    m->ntaps = 2 - 2 * m->first;
    // Same length, scale 1 (within the reference's math.isclose): the axis is copied as it is, as in the
    // reference, onnxruntime and ONNX's evaluator. Only tf_half_pixel_for_nn would otherwise move it by half a
    // pixel; every other mode maps it to itself already. The copy is taps y - 1 .. y + 2 with weights 0 1 0 0,
    // reached through the asymmetric transform with step 1 (integer coordinates, so floor(x) = y); support is 1
    // and ntaps 4 at scale 1, whatever antialias says.
    m->identity = n_out == n_in && std::fabs(m->scale - 1.0) <= 1e-9 * std::fmax(m->scale, 1.0);
    if (m->identity) {
        m->mode = TRTC_COORD_ASYMMETRIC;
        m->step = 1.0;
    }
    const double reach = static_cast<double>(m->ntaps) + 4.0;
    m->x_lo = -reach;
    m->x_hi = static_cast<double>(n_in) + reach;
    return true;
}

// Largest step between the first taps of two outputs `apart` indices apart on an axis, from the slope of the
// coordinate transform: floor(apart * slope) + 1, with a margin for the rounding of coordinates computed one
// by one (an exact integer step can show one more). -1 when the source coordinate decreases.
int max_window_step(const AxisMap& m, int apart) {
    const double slope = m.step;
    if (!(slope >= 0.0)) return -1;
    if (slope > 64.0) return 65 * apart;
    return static_cast<int>(std::floor(apart * slope + 1e-6)) + 1;
}

int sm_count() {
    int device = 0;
    int count = 0;
    if (cudaGetDevice(&device) != cudaSuccess ||
        cudaDeviceGetAttribute(&count, cudaDevAttrMultiProcessorCount, device) != cudaSuccess) {
        return 80;
    }
    return count;
}

// Blocks of one four-tap kernel resident per SM (occupancy query, once per kernel).
template <typename T, int kAdj, int kSpan, bool kWords, bool kStaged, bool kWide = false>
int resident_blocks() {
    static std::atomic<int> resident_per_sm{0};
    int resident = resident_per_sm.load(std::memory_order_relaxed);
    if (resident == 0) {
        const auto kernel = cubic4_entry<T, kAdj, kSpan, kWords, kStaged, kWide>();
        // The staged kernels want shared memory rather than L1: their reads of the input go through the ring.
        if (kStaged && cudaFuncSetAttribute(kernel, cudaFuncAttributePreferredSharedMemoryCarveout,
                                            cudaSharedmemCarveoutMaxShared) != cudaSuccess) {
            cudaGetLastError();  // a refusal leaves the default carve-out, which is still correct
        }
        if (cudaOccupancyMaxActiveBlocksPerMultiprocessor(&resident, kernel, 32 * kWarps, 0) != cudaSuccess ||
            resident < 1) {
            resident = 1;
        }
        resident_per_sm.store(resident, std::memory_order_relaxed);
    }
    return resident;
}

int64_t four_tap_col_groups(const AxisMap& mw, int warp_cols = kGroupCols) {
    return (mw.n_out + warp_cols - 1) / warp_cols;
}

int64_t four_tap_row_blocks(const AxisMap& mh, int strip) {
    return (static_cast<int64_t>(mh.n_out) + kWarps * strip - 1) / (kWarps * strip);
}

// Launch geometry of the four-tap kernel. A block is 4 warps x strip rows x 128 columns of `per_block`
// consecutive planes. Taller strips load fewer halo rows per output row, and more planes per block spread the
// set-up (coordinates and weights) over more outputs; the grid is sized in whole waves of resident blocks so
// that no last, thin wave leaves most of the GPU idle.
struct FourTapGeometry {
    int strip;
    int64_t per_block;
    int64_t blocks_per_plane;
};

FourTapGeometry four_tap_geometry(int64_t planes, const AxisMap& mh, const AxisMap& mw, int64_t capacity,
                                  int warp_cols = kGroupCols) {
    const int64_t col_groups = four_tap_col_groups(mw, warp_cols);
    auto row_blocks = [&](int s) { return four_tap_row_blocks(mh, s); };
    int strip = kMaxStripRows;
    const int64_t busy = (capacity + kFullerBlocks - 1) / kFullerBlocks;
    while (strip > 4 && col_groups * row_blocks(strip) * planes < busy) strip /= 2;
    const int64_t blocks_per_plane = col_groups * row_blocks(strip);
    // Cost in plane-sized steps of one block: waves x (planes per block + set-up, about half a plane).
    int64_t per_block = 1;
    double best = -1.0;
    const int64_t fewest = (planes + 65534) / 65535;  // grid.y limit
    for (int64_t pb = std::max<int64_t>(1, fewest); pb <= std::max<int64_t>(fewest, std::min<int64_t>(16, planes));
         ++pb) {
        const int64_t blocks = (planes + pb - 1) / pb * blocks_per_plane;
        const double cost = static_cast<double>((blocks + capacity - 1) / capacity) * (static_cast<double>(pb) + 0.5);
        if (best < 0.0 || cost <= best) {
            best = cost;
            per_block = pb;
        }
    }
    return {strip, per_block, blocks_per_plane};
}

template <typename T, int kAdj, int kSpan, bool kWords, bool kStaged, bool kWide = false>
int64_t four_tap_capacity() {
    return static_cast<int64_t>(sm_count()) * resident_blocks<T, kAdj, kSpan, kWords, kStaged, kWide>();
}

template <typename T, int kAdj, int kSpan, bool kWords, bool kStaged, bool kWide = false>
cudaError_t launch4_kernel(const T* in, T* out, int64_t planes, const AxisMap& mh, const AxisMap& mw,
                           int vector_stores, cudaStream_t stream) {
    constexpr int warp_cols = kWide ? 2 * kGroupCols : kGroupCols;
    const FourTapGeometry g =
        four_tap_geometry(planes, mh, mw, four_tap_capacity<T, kAdj, kSpan, kWords, kStaged, kWide>(), warp_cols);
    const dim3 grid(static_cast<unsigned>(g.blocks_per_plane),
                    static_cast<unsigned>((planes + g.per_block - 1) / g.per_block));
    cubic4_entry<T, kAdj, kSpan, kWords, kStaged, kWide>()<<<grid, 32 * kWarps, 0, stream>>>(
        in, out, planes, static_cast<int>(g.per_block), mh, mw, g.strip,
        static_cast<int>(four_tap_col_groups(mw, warp_cols)), vector_stores);
    return cudaGetLastError();
}

// Staged input where every copy is aligned (16-bit rows of a whole number of 16-byte copies from a 16-byte
// aligned start) and the row segment of a warp fits in a slot: from the first input of lane 0 to the last of
// lane 31, at most the window step over their columns plus a run (plus one input when runs start even),
// and one more copy for the alignment of the first.
template <typename T, int kAdj, int kSpan, bool kWide = false>
bool stage_fits(const void* input, const AxisMap& mw) {
    constexpr int chunk = kStageBytes / static_cast<int>(sizeof(T));
    if (sizeof(T) != 2 || mw.n_in % chunk != 0 || reinterpret_cast<uintptr_t>(input) % kStageBytes != 0) {
        return false;
    }
    const int spread = max_window_step(mw, (kWide ? 2 * kGroupCols : kGroupCols) - kAdj) + kSpan;
    return (spread + chunk - 1) / chunk + 1 <= stage_elems<kAdj, kWide>() / chunk;
}

// Deep quads: 16-bit quad launches that would be staged with fewer planes per block than this run the
// 8-buffer register kernel instead.
constexpr int64_t kDeepQuadsStagedMinPlanes = 10;

template <typename T, int kAdj, int kSpan, bool kWords = false>
cudaError_t launch4(const T* in, T* out, int64_t planes, const AxisMap& mh, const AxisMap& mw, int vector_stores,
                    cudaStream_t stream) {
    // The staged kernel costs about a fifth more instructions per input row and a longer start (its ring
    // fills before the first row): it pays where every warp runs full strips and there are enough of them to
    // fill the GPU. Smaller launches, whose strips the launcher shortens to fill the GPU, keep the register
    // kernel (staged, 1x3x256x256 -> 1024x1024 FP16 took twice as long).
    if constexpr (sizeof(T) == 2) {
#if TRTC_CUBIC_WIDE_QUADS
        // Wide quads where their 16-byte stores are aligned (rows of a multiple of 8 outputs) and the GPU
        // fills with full strips of 256 columns.
        if constexpr (kAdj == 4) {
            if (mw.n_out % 8 == 0 && reinterpret_cast<uintptr_t>(out) % 16 == 0 &&
                stage_fits<T, kAdj, kSpan, true>(in, mw) &&
                four_tap_col_groups(mw, 2 * kGroupCols) * four_tap_row_blocks(mh, kMaxStripRows) * planes >=
                    four_tap_capacity<T, kAdj, kSpan, false, true, true>()) {
                return launch4_kernel<T, kAdj, kSpan, false, true, true>(in, out, planes, mh, mw, 1, stream);
            }
        }
#endif
        if (stage_fits<T, kAdj, kSpan>(in, mw) &&
            four_tap_col_groups(mw) * four_tap_row_blocks(mh, kMaxStripRows) * planes >=
                four_tap_capacity<T, kAdj, kSpan, kWords, true>()) {
            // Deep quads: the staged ring starts anew in every block, and a block with few planes spends a
            // larger share of its time filling it; there the 8-buffer register kernel was faster (v9 round:
            // 8x64x256 -> 512, 6 planes per block). Many planes per block stay staged (32x32x512 -> 1024, 14).
            if (!(kDeepQuads && kAdj == 4) ||
                four_tap_geometry(planes, mh, mw, four_tap_capacity<T, kAdj, kSpan, kWords, true>()).per_block >=
                    kDeepQuadsStagedMinPlanes) {
                return launch4_kernel<T, kAdj, kSpan, kWords, true>(in, out, planes, mh, mw, vector_stores, stream);
            }
        }
    }
    return launch4_kernel<T, kAdj, kSpan, kWords, false>(in, out, planes, mh, mw, vector_stores, stream);
}

template <typename T>
cudaError_t launch(const void* input, void* output, int64_t planes, const AxisMap& mh, const AxisMap& mw,
                   cudaStream_t stream) {
    const T* in = static_cast<const T*>(input);
    T* out = static_cast<T*>(output);
    const unsigned grid_planes = static_cast<unsigned>(planes < 65535 ? planes : 65535);
    // The four-tap kernel needs windows that advance by at most 4 rows per output row (no input row is
    // skipped) and column groups whose windows fit in at most 8 inputs.
    const int row_step = max_window_step(mh, 1);
    const int pair_span = 4 + max_window_step(mw, 1);
    const int quad_span = 4 + max_window_step(mw, 3);
    const bool quads = quad_span <= 7;
    const int span = quads ? std::max(quad_span, 6) : std::max(pair_span, 6);
    if (mh.ntaps == 4 && mw.ntaps == 4 && row_step >= 0 && row_step <= kMaxRowStep && quad_span >= 4 && span <= 8 &&
        mh.n_in >= 4 && mw.n_in >= span) {
        const int vec4 = mw.n_out % 4 == 0 && reinterpret_cast<uintptr_t>(output) % (4 * sizeof(T)) == 0;
        const int vec2 = mw.n_out % 2 == 0 && reinterpret_cast<uintptr_t>(output) % (2 * sizeof(T)) == 0;
        // Quads (one load run for four columns) where their windows fit in 7 inputs: upscaling and mild
        // downscaling. Otherwise pairs.
        if (quads) {
            return span == 6 ? launch4<T, 4, 6>(in, out, planes, mh, mw, vec4, stream)
                             : launch4<T, 4, 7>(in, out, planes, mh, mw, vec4, stream);
        }
        switch (span) {
            case 6:
                return launch4<T, 2, 6>(in, out, planes, mh, mw, vec2, stream);
            case 7:
                // 16-bit rows of even length from a 4-byte aligned start: runs of 8 loaded as 4 words, which
                // frees 24 registers of prefetch buffers (4 blocks per SM instead of 3) for 2 more FMAs per
                // column and input row.
                if (sizeof(T) == 2 && mw.n_in % 2 == 0 && mw.n_in >= 8 &&
                    reinterpret_cast<uintptr_t>(input) % 4 == 0) {
                    return launch4<T, 2, 8, sizeof(T) == 2>(in, out, planes, mh, mw, vec2, stream);
                }
                return launch4<T, 2, 7>(in, out, planes, mh, mw, vec2, stream);
            default:
                return launch4<T, 2, 8>(in, out, planes, mh, mw, vec2, stream);
        }
    } else {
        const int col_tiles = (mw.n_out + kTileW - 1) / kTileW;
        const int64_t row_tiles = (mh.n_out + kTileH - 1) / kTileH;
        const dim3 grid(static_cast<unsigned>(row_tiles * col_tiles), grid_planes);
        const dim3 block(kTileW, kTileH);
        // Widest spread of the row windows of one tile: (kTileH - 1) steps of the source coordinate, one
        // more for the floors, plus the taps themselves, plus a row of margin for rounding.
        const double spread = std::ceil((kTileH - 1) * std::fabs(mh.step)) + 2.0 + mh.ntaps;
        const double bytes =
            (static_cast<double>(kTileW) * mw.ntaps + static_cast<double>(kTileH) * mh.ntaps + spread * kTileW) *
            sizeof(float);
        if (bytes <= static_cast<double>(kMaxSharedBytes)) {
            cubicn_kernel<T, true><<<grid, block, static_cast<size_t>(bytes), stream>>>(in, out, planes, mh, mw,
                                                                                       col_tiles);
        } else {
            cubicn_kernel<T, false><<<grid, block, 0, stream>>>(in, out, planes, mh, mw, col_tiles);
        }
    }
    return cudaGetLastError();
}

}  // namespace

// The only exported symbol of the library (the rest is built with hidden visibility).
extern "C" __attribute__((visibility("default"))) int trtc_cubic_resize(
    const void* input, void* output, int32_t dtype, int64_t planes, int64_t in_h, int64_t in_w, int64_t out_h,
    int64_t out_w, const TrtcCubicResizeParams* params, cudaStream_t stream) {
    constexpr int64_t kMaxPlane = INT_MAX;
    if (params == nullptr || planes < 0 || in_h < 1 || in_w < 1 || out_h < 0 || out_w < 0) {
        return cudaErrorInvalidValue;
    }
    // Offsets inside one plane are 32-bit.
    if (in_h > kMaxPlane / in_w || (out_w > 0 && out_h > kMaxPlane / out_w)) return cudaErrorInvalidValue;
    if (params->coordinate_mode < TRTC_COORD_HALF_PIXEL || params->coordinate_mode > TRTC_COORD_TF_HALF_PIXEL_FOR_NN ||
        (params->exclude_outside != 0 && params->exclude_outside != 1) ||
        (params->antialias != 0 && params->antialias != 1) || !std::isfinite(params->cubic_coeff_a) ||
        !std::isfinite(params->scale_h) || !std::isfinite(params->scale_w)) {
        return cudaErrorInvalidValue;
    }
    if (dtype != TRTC_DTYPE_FLOAT32 && dtype != TRTC_DTYPE_FLOAT16 && dtype != TRTC_DTYPE_BFLOAT16) {
        return cudaErrorInvalidValue;
    }
    if (planes == 0 || out_h == 0 || out_w == 0) return cudaSuccess;
    if (input == nullptr || output == nullptr) return cudaErrorInvalidValue;

    AxisMap mh, mw;
    if (!make_axis(in_h, out_h, params->scale_h, *params, &mh) ||
        !make_axis(in_w, out_w, params->scale_w, *params, &mw)) {
        return cudaErrorInvalidValue;
    }
    switch (dtype) {
        case TRTC_DTYPE_FLOAT16:
            return launch<__half>(input, output, planes, mh, mw, stream);
        case TRTC_DTYPE_BFLOAT16:
            return launch<__nv_bfloat16>(input, output, planes, mh, mw, stream);
        default:
            return launch<float>(input, output, planes, mh, mw, stream);
    }
}
