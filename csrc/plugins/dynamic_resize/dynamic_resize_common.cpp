#include "dynamic_resize_common.h"

#include <exception>
#include <vector>

#include "../common/plugin_logging.h"
#include "cubic_resize.h"

namespace trtconvert {
namespace plugins {
namespace {

using nvinfer1::DataType;
using nvinfer1::PluginFieldType;
using resize::FieldType;

static_assert(static_cast<int32_t>(FieldType::kFLOAT16) == static_cast<int32_t>(PluginFieldType::kFLOAT16), "");
static_assert(static_cast<int32_t>(FieldType::kFLOAT32) == static_cast<int32_t>(PluginFieldType::kFLOAT32), "");
static_assert(static_cast<int32_t>(FieldType::kFLOAT64) == static_cast<int32_t>(PluginFieldType::kFLOAT64), "");
static_assert(static_cast<int32_t>(FieldType::kINT8) == static_cast<int32_t>(PluginFieldType::kINT8), "");
static_assert(static_cast<int32_t>(FieldType::kINT16) == static_cast<int32_t>(PluginFieldType::kINT16), "");
static_assert(static_cast<int32_t>(FieldType::kINT32) == static_cast<int32_t>(PluginFieldType::kINT32), "");
static_assert(static_cast<int32_t>(FieldType::kCHAR) == static_cast<int32_t>(PluginFieldType::kCHAR), "");
static_assert(static_cast<int32_t>(FieldType::kUNKNOWN) == static_cast<int32_t>(PluginFieldType::kUNKNOWN), "");
#if NV_TENSORRT_MAJOR >= 9
static_assert(static_cast<int32_t>(FieldType::kBF16) == static_cast<int32_t>(PluginFieldType::kBF16), "");
static_assert(static_cast<int32_t>(FieldType::kINT64) == static_cast<int32_t>(PluginFieldType::kINT64), "");
#endif

static_assert(static_cast<int32_t>(resize::CoordinateMode::kHALF_PIXEL) == TRTC_COORD_HALF_PIXEL, "");
static_assert(static_cast<int32_t>(resize::CoordinateMode::kPYTORCH_HALF_PIXEL) == TRTC_COORD_PYTORCH_HALF_PIXEL, "");
static_assert(static_cast<int32_t>(resize::CoordinateMode::kALIGN_CORNERS) == TRTC_COORD_ALIGN_CORNERS, "");
static_assert(static_cast<int32_t>(resize::CoordinateMode::kASYMMETRIC) == TRTC_COORD_ASYMMETRIC, "");
static_assert(static_cast<int32_t>(resize::CoordinateMode::kHALF_PIXEL_SYMMETRIC) == TRTC_COORD_HALF_PIXEL_SYMMETRIC,
              "");
static_assert(static_cast<int32_t>(resize::CoordinateMode::kTF_HALF_PIXEL_FOR_NN) == TRTC_COORD_TF_HALF_PIXEL_FOR_NN,
              "");

constexpr int32_t kFailure = 1;

int32_t kernel_dtype(DataType type) {
    switch (type) {
        case DataType::kHALF: return TRTC_DTYPE_FLOAT16;
#if NV_TENSORRT_MAJOR >= 9
        case DataType::kBF16: return TRTC_DTYPE_BFLOAT16;
#endif
        default: return TRTC_DTYPE_FLOAT32;
    }
}

std::vector<int64_t> dims_of(nvinfer1::Dims const& dims) {
    std::vector<int64_t> values;
    for (int32_t i = 0; i < dims.nbDims; ++i) {
        values.push_back(dims.d[i]);
    }
    return values;
}

std::string geometry_of(resize::ResizeConfig const& config, nvinfer1::PluginTensorDesc const& input,
                        nvinfer1::PluginTensorDesc const& output, resize::LaunchGeometry* geometry) {
    std::vector<int64_t> const inDims = dims_of(input.dims);
    std::vector<int64_t> const outDims = dims_of(output.dims);
    return resize::launch_geometry(config, inDims.data(), input.dims.nbDims, outDims.data(), output.dims.nbDims,
                                   geometry);
}

}  // namespace

bool is_resizable_type(DataType type) {
#if NV_TENSORRT_MAJOR >= 9
    if (type == DataType::kBF16) {
        return true;
    }
#endif
    return type == DataType::kFLOAT || type == DataType::kHALF;
}

char const* resizable_types() {
#if NV_TENSORRT_MAJOR >= 9
    return "FP32, FP16 or BF16";
#else
    return "FP32 or FP16";
#endif
}

int32_t fail(std::string const& message) {
    log_error(message);
    return kFailure;
}

bool supports_format(int32_t pos, nvinfer1::PluginTensorDesc const& desc, nvinfer1::PluginTensorDesc const& first,
                     int32_t nbInputs, int32_t nbOutputs) {
    if (pos < 0 || pos >= nbInputs + nbOutputs || desc.format != nvinfer1::TensorFormat::kLINEAR) {
        return false;
    }
    if (pos == 0) {
        return is_resizable_type(desc.type);
    }
    if (pos == nbInputs) {
        return desc.type == first.type;
    }
    return true;
}

int32_t check_configuration(nvinfer1::PluginTensorDesc const& input, nvinfer1::PluginTensorDesc const& output,
                            int32_t nbInputs, int32_t nbOutputs) {
    if (nbInputs < 1 || nbInputs > 2 || nbOutputs != 1) {
        return fail("DynamicTRTResize: expected 1 or 2 inputs and 1 output, got " + std::to_string(nbInputs) +
                    " and " + std::to_string(nbOutputs));
    }
    if (input.dims.nbDims < 2 || input.dims.nbDims != output.dims.nbDims) {
        return fail("DynamicTRTResize: input and output need the same rank, 2 or more");
    }
    if (!is_resizable_type(input.type) || output.type != input.type) {
        return fail(std::string("DynamicTRTResize: input and output must both be ") + resizable_types());
    }
    return 0;
}

int32_t check_shapes(resize::ResizeConfig const& config, nvinfer1::PluginTensorDesc const& input,
                     nvinfer1::PluginTensorDesc const& output) {
    try {
        resize::LaunchGeometry geometry;
        std::string const error = geometry_of(config, input, output, &geometry);
        return error.empty() ? 0 : fail(error);
    } catch (std::exception const& error) {
        return fail(std::string("DynamicTRTResize: shape check failed: ") + error.what());
    }
}

int32_t run_resize(resize::ResizeConfig const& config, nvinfer1::PluginTensorDesc const& input,
                   nvinfer1::PluginTensorDesc const& output, void const* x, void* y, cudaStream_t stream) {
    try {
        resize::LaunchGeometry geometry;
        std::string const error = geometry_of(config, input, output, &geometry);
        if (!error.empty()) {
            return fail(error);
        }
        if (geometry.empty()) {
            return 0;
        }
        TrtcCubicResizeParams params{};
        params.coordinate_mode = static_cast<int32_t>(config.mode);
        params.cubic_coeff_a = config.cubic_coeff_a;
        params.exclude_outside = config.exclude_outside;
        params.antialias = config.antialias;
        params.scale_h = geometry.scale_h;
        params.scale_w = geometry.scale_w;
        int const status = trtc_cubic_resize(x, y, kernel_dtype(input.type), geometry.planes, geometry.in_h,
                                             geometry.in_w, geometry.out_h, geometry.out_w, &params, stream);
        if (status != 0) {
            return fail("DynamicTRTResize: the resize kernel failed with cudaError_t " + std::to_string(status));
        }
        return 0;
    } catch (std::exception const& error) {
        return fail(std::string("DynamicTRTResize: enqueue failed: ") + error.what());
    }
}

}  // namespace plugins
}  // namespace trtconvert
