// Cubic resize over the two innermost axes of a contiguous tensor, with ONNX Resize(mode="cubic") semantics.
// Plain CUDA, no TensorRT: the TensorRT plugin, the tests and the benchmark all call this C ABI.
#ifndef TRTCONVERT_CUBIC_RESIZE_H
#define TRTCONVERT_CUBIC_RESIZE_H

#include <cuda_runtime_api.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
    TRTC_DTYPE_FLOAT32 = 0,
    TRTC_DTYPE_FLOAT16 = 1,
    TRTC_DTYPE_BFLOAT16 = 2,
} TrtcDataType;

// Values match the order of ONNX's coordinate_transformation_mode names as listed in the plugin README.
typedef enum {
    TRTC_COORD_HALF_PIXEL = 0,
    TRTC_COORD_PYTORCH_HALF_PIXEL = 1,
    TRTC_COORD_ALIGN_CORNERS = 2,
    TRTC_COORD_ASYMMETRIC = 3,
    TRTC_COORD_HALF_PIXEL_SYMMETRIC = 4,
    TRTC_COORD_TF_HALF_PIXEL_FOR_NN = 5,
} TrtcCoordinateMode;

typedef struct {
    int32_t coordinate_mode;  // a TrtcCoordinateMode
    float cubic_coeff_a;      // Keys kernel coefficient; ONNX's default is -0.75
    int32_t exclude_outside;  // 1: taps outside the input get weight 0 and the rest are renormalised
    int32_t antialias;        // 1: on downscale, widen the kernel by 1/scale (about 4/scale taps)
    // Scale (output over input) that the coordinate transform divides by. ONNX uses the given scales when the
    // node has them, otherwise out/in. A value <= 0 means out/in. An axis whose length is unchanged and whose
    // scale is 1 is copied as it is (as onnxruntime does), which matters for tf_half_pixel_for_nn only.
    float scale_h;
    float scale_w;
} TrtcCubicResizeParams;

// Resizes `planes` contiguous planes of in_h x in_w into planes of out_h x out_w; input and output share
// `dtype`, arithmetic is FP32. Enqueues on `stream` and returns a cudaError_t value (0 on success,
// cudaErrorInvalidValue for arguments out of range).
int trtc_cubic_resize(const void* input, void* output, int32_t dtype, int64_t planes, int64_t in_h,
                      int64_t in_w, int64_t out_h, int64_t out_w, const TrtcCubicResizeParams* params,
                      cudaStream_t stream);

#ifdef __cplusplus
}
#endif

#endif  // TRTCONVERT_CUBIC_RESIZE_H
