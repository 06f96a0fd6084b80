// What both TensorRT interfaces of DynamicTRTResize share (IPluginV3 for TensorRT 10+, IPluginV2DynamicExt for
// 8.5-9.x): the data types and formats it takes, the configuration check, and the kernel launch. The node's
// meaning lives in resize_config.h; this file only translates TensorRT's types.
#ifndef TRTCONVERT_PLUGINS_DYNAMIC_RESIZE_DYNAMIC_RESIZE_COMMON_H
#define TRTCONVERT_PLUGINS_DYNAMIC_RESIZE_DYNAMIC_RESIZE_COMMON_H

#include <string>

#include <NvInferRuntime.h>

#include "resize_config.h"

namespace trtconvert {
namespace plugins {

// FP32 and FP16 everywhere; BF16 where TensorRT has it (9.0 and newer).
bool is_resizable_type(nvinfer1::DataType type);

// The resizable types in words, for messages: "FP32, FP16 or BF16" (or "FP32 or FP16" before TensorRT 9).
char const* resizable_types();

// Logs the message through TensorRT's logger and returns the failure status of plugin methods.
int32_t fail(std::string const& message);

// supportsFormatCombination of both interfaces: linear layout; input 0 resizable, the output of input 0's type,
// the size carrier (input 1) of any type, since only its shape is read.
bool supports_format(int32_t pos, nvinfer1::PluginTensorDesc const& desc, nvinfer1::PluginTensorDesc const& first,
                     int32_t nbInputs, int32_t nbOutputs);

// configurePlugin of both interfaces: 1 or 2 inputs and 1 output, equal ranks of 2 or more, matching types.
int32_t check_configuration(nvinfer1::PluginTensorDesc const& input, nvinfer1::PluginTensorDesc const& output,
                            int32_t nbInputs, int32_t nbOutputs);

// Checks concrete input and output dims against the config (0 or a logged failure).
int32_t check_shapes(resize::ResizeConfig const& config, nvinfer1::PluginTensorDesc const& input,
                     nvinfer1::PluginTensorDesc const& output);

// enqueue of both interfaces: one kernel launch on `stream`.
int32_t run_resize(resize::ResizeConfig const& config, nvinfer1::PluginTensorDesc const& input,
                   nvinfer1::PluginTensorDesc const& output, void const* x, void* y, cudaStream_t stream);

}  // namespace plugins
}  // namespace trtconvert

#endif  // TRTCONVERT_PLUGINS_DYNAMIC_RESIZE_DYNAMIC_RESIZE_COMMON_H
