// DynamicTRTResize as a TensorRT IPluginV2DynamicExt and its IPluginCreator, for TensorRT 8.5 to 9.x (which have
// no IPluginV3). Same name, version, namespace, attributes and semantics as the IPluginV3 plugin of
// dynamic_resize_plugin.h; the node's meaning lives in resize_config.h, the arithmetic in the CUDA kernel of
// csrc/kernels, and what both interfaces share in dynamic_resize_common.h.
#ifndef TRTCONVERT_PLUGINS_DYNAMIC_RESIZE_DYNAMIC_RESIZE_PLUGIN_V2_H
#define TRTCONVERT_PLUGINS_DYNAMIC_RESIZE_DYNAMIC_RESIZE_PLUGIN_V2_H

#include <string>
#include <vector>

#include <NvInferRuntime.h>

#include "resize_config.h"

namespace trtconvert {
namespace plugins {

class DynamicResizePluginV2 : public nvinfer1::IPluginV2DynamicExt {
public:
    explicit DynamicResizePluginV2(resize::ResizeConfig config);
    ~DynamicResizePluginV2() override = default;
    DynamicResizePluginV2(DynamicResizePluginV2 const&) = delete;
    DynamicResizePluginV2& operator=(DynamicResizePluginV2 const&) = delete;

    // IPluginV2
    char const* getPluginType() const noexcept override;
    char const* getPluginVersion() const noexcept override;
    int32_t getNbOutputs() const noexcept override;
    int32_t initialize() noexcept override;
    void terminate() noexcept override;
    size_t getSerializationSize() const noexcept override;
    void serialize(void* buffer) const noexcept override;
    void destroy() noexcept override;
    void setPluginNamespace(char const* pluginNamespace) noexcept override;
    char const* getPluginNamespace() const noexcept override;

    // IPluginV2Ext
    nvinfer1::DataType getOutputDataType(int32_t index, nvinfer1::DataType const* inputTypes,
                                         int32_t nbInputs) const noexcept override;

    // IPluginV2DynamicExt
    nvinfer1::IPluginV2DynamicExt* clone() const noexcept override;
    nvinfer1::DimsExprs getOutputDimensions(int32_t outputIndex, nvinfer1::DimsExprs const* inputs, int32_t nbInputs,
                                            nvinfer1::IExprBuilder& exprBuilder) noexcept override;
    bool supportsFormatCombination(int32_t pos, nvinfer1::PluginTensorDesc const* inOut, int32_t nbInputs,
                                   int32_t nbOutputs) noexcept override;
    void configurePlugin(nvinfer1::DynamicPluginTensorDesc const* in, int32_t nbInputs,
                         nvinfer1::DynamicPluginTensorDesc const* out, int32_t nbOutputs) noexcept override;
    size_t getWorkspaceSize(nvinfer1::PluginTensorDesc const* inputs, int32_t nbInputs,
                            nvinfer1::PluginTensorDesc const* outputs, int32_t nbOutputs) const noexcept override;
    int32_t enqueue(nvinfer1::PluginTensorDesc const* inputDesc, nvinfer1::PluginTensorDesc const* outputDesc,
                    void const* const* inputs, void* const* outputs, void* workspace,
                    cudaStream_t stream) noexcept override;

    resize::ResizeConfig const& config() const { return mConfig; }

private:
    resize::ResizeConfig mConfig;
    std::vector<char> mSerialized;
    std::string mNamespace;
};

class DynamicResizeCreatorV2 : public nvinfer1::IPluginCreator {
public:
    DynamicResizeCreatorV2();
    ~DynamicResizeCreatorV2() override = default;
    DynamicResizeCreatorV2(DynamicResizeCreatorV2 const&) = delete;
    DynamicResizeCreatorV2& operator=(DynamicResizeCreatorV2 const&) = delete;

    char const* getPluginName() const noexcept override;
    char const* getPluginVersion() const noexcept override;
    nvinfer1::PluginFieldCollection const* getFieldNames() noexcept override;
// IPluginCreator's own signatures return the IPluginV2 base, which these headers mark deprecated in favour of
// the very IPluginV2DynamicExt this creator makes.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
    nvinfer1::IPluginV2* createPlugin(char const* name, nvinfer1::PluginFieldCollection const* fc) noexcept override;
    nvinfer1::IPluginV2* deserializePlugin(char const* name, void const* serialData,
                                           size_t serialLength) noexcept override;
#pragma GCC diagnostic pop
    void setPluginNamespace(char const* pluginNamespace) noexcept override;
    char const* getPluginNamespace() const noexcept override;

private:
    std::vector<nvinfer1::PluginField> mFieldNames;
    nvinfer1::PluginFieldCollection mFieldCollection{};
    std::string mNamespace;
};

// The creator instance the library registers and hands out through getPluginCreators.
DynamicResizeCreatorV2& dynamic_resize_creator();

}  // namespace plugins
}  // namespace trtconvert

#endif  // TRTCONVERT_PLUGINS_DYNAMIC_RESIZE_DYNAMIC_RESIZE_PLUGIN_V2_H
