// DynamicTRTResize as a TensorRT IPluginV3 (core, build and runtime capabilities) and its IPluginCreatorV3One.
// The node's meaning lives in resize_config.h; the arithmetic runs in the CUDA kernel of csrc/kernels.
#ifndef TRTCONVERT_PLUGINS_DYNAMIC_RESIZE_DYNAMIC_RESIZE_PLUGIN_H
#define TRTCONVERT_PLUGINS_DYNAMIC_RESIZE_DYNAMIC_RESIZE_PLUGIN_H

#include <memory>
#include <string>
#include <vector>

#include <NvInferRuntime.h>

#include "resize_config.h"

namespace trtconvert {
namespace plugins {

class DynamicResizePlugin : public nvinfer1::IPluginV3,
                            public nvinfer1::IPluginV3OneCore,
                            public nvinfer1::IPluginV3OneBuild,
                            public nvinfer1::IPluginV3OneRuntime {
public:
    explicit DynamicResizePlugin(resize::ResizeConfig config);
    ~DynamicResizePlugin() override = default;
    DynamicResizePlugin(DynamicResizePlugin const&) = delete;
    DynamicResizePlugin& operator=(DynamicResizePlugin const&) = delete;

    // IPluginV3
    nvinfer1::IPluginCapability* getCapabilityInterface(nvinfer1::PluginCapabilityType type) noexcept override;
    nvinfer1::IPluginV3* clone() noexcept override;

    // IPluginV3OneCore
    char const* getPluginName() const noexcept override;
    char const* getPluginVersion() const noexcept override;
    char const* getPluginNamespace() const noexcept override;

    // IPluginV3OneBuild
    int32_t configurePlugin(nvinfer1::DynamicPluginTensorDesc const* in, int32_t nbInputs,
                            nvinfer1::DynamicPluginTensorDesc const* out, int32_t nbOutputs) noexcept override;
    int32_t getOutputDataTypes(nvinfer1::DataType* outputTypes, int32_t nbOutputs,
                               nvinfer1::DataType const* inputTypes, int32_t nbInputs) const noexcept override;
    int32_t getOutputShapes(nvinfer1::DimsExprs const* inputs, int32_t nbInputs, nvinfer1::DimsExprs const* shapeInputs,
                            int32_t nbShapeInputs, nvinfer1::DimsExprs* outputs, int32_t nbOutputs,
                            nvinfer1::IExprBuilder& exprBuilder) noexcept override;
    bool supportsFormatCombination(int32_t pos, nvinfer1::DynamicPluginTensorDesc const* inOut, int32_t nbInputs,
                                   int32_t nbOutputs) noexcept override;
    int32_t getNbOutputs() const noexcept override;
    size_t getWorkspaceSize(nvinfer1::DynamicPluginTensorDesc const* inputs, int32_t nbInputs,
                            nvinfer1::DynamicPluginTensorDesc const* outputs, int32_t nbOutputs) const noexcept override;
    char const* getMetadataString() noexcept override;

    // IPluginV3OneRuntime
    int32_t onShapeChange(nvinfer1::PluginTensorDesc const* in, int32_t nbInputs, nvinfer1::PluginTensorDesc const* out,
                          int32_t nbOutputs) noexcept override;
    int32_t enqueue(nvinfer1::PluginTensorDesc const* inputDesc, nvinfer1::PluginTensorDesc const* outputDesc,
                    void const* const* inputs, void* const* outputs, void* workspace,
                    cudaStream_t stream) noexcept override;
    nvinfer1::IPluginV3* attachToContext(nvinfer1::IPluginResourceContext* context) noexcept override;
    nvinfer1::PluginFieldCollection const* getFieldsToSerialize() noexcept override;

private:
    resize::ResizeConfig mConfig;
    std::string mMetadata;
    // Storage behind the collection getFieldsToSerialize returns; rebuilt on each call.
    std::unique_ptr<resize::SerializedFields> mSerialized;
    std::vector<nvinfer1::PluginField> mSerializedFields;
    nvinfer1::PluginFieldCollection mSerializedCollection{};
};

class DynamicResizeCreator : public nvinfer1::IPluginCreatorV3One {
public:
    DynamicResizeCreator();
    ~DynamicResizeCreator() override = default;
    DynamicResizeCreator(DynamicResizeCreator const&) = delete;
    DynamicResizeCreator& operator=(DynamicResizeCreator const&) = delete;

    nvinfer1::IPluginV3* createPlugin(char const* name, nvinfer1::PluginFieldCollection const* fc,
                                      nvinfer1::TensorRTPhase phase) noexcept override;
    nvinfer1::PluginFieldCollection const* getFieldNames() noexcept override;
    char const* getPluginName() const noexcept override;
    char const* getPluginVersion() const noexcept override;
    char const* getPluginNamespace() const noexcept override;

private:
    std::vector<nvinfer1::PluginField> mFieldNames;
    nvinfer1::PluginFieldCollection mFieldCollection{};
};

// The creator instance the library registers and hands out through getCreators.
DynamicResizeCreator& dynamic_resize_creator();

}  // namespace plugins
}  // namespace trtconvert

#endif  // TRTCONVERT_PLUGINS_DYNAMIC_RESIZE_DYNAMIC_RESIZE_PLUGIN_H
