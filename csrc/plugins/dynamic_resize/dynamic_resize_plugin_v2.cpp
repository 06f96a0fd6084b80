#include "dynamic_resize_plugin_v2.h"

#include <cstring>
#include <exception>
#include <limits>
#include <utility>

#include "../common/plugin_logging.h"
#include "dynamic_resize_common.h"

namespace trtconvert {
namespace plugins {
namespace {

using nvinfer1::DataType;
using nvinfer1::IDimensionExpr;
using nvinfer1::PluginFieldType;
using resize::FieldType;

// Shape expressions before TensorRT 10 hold 32-bit values.
bool fits_int32(int64_t value) { return value >= 0 && value <= std::numeric_limits<int32_t>::max(); }

IDimensionExpr const* constant(nvinfer1::IExprBuilder& builder, int64_t value) {
    return builder.constant(static_cast<int32_t>(value));
}

// floor(in * ratio) as 32-bit shape arithmetic, exact for input lengths below 2^23 (resize::ScaledLengthSteps).
IDimensionExpr const* scaled(nvinfer1::IExprBuilder& builder, IDimensionExpr const* in, resize::Ratio ratio) {
    using nvinfer1::DimensionOperation;
    resize::ScaledLengthSteps const steps = resize::scaled_length_steps(ratio);
    IDimensionExpr const* carry = constant(builder, 0);
    for (int32_t digit : steps.fraction_digits) {
        if (digit == 0 && carry->isConstant() && carry->getConstantValue() == 0) {
            continue;
        }
        IDimensionExpr const* term = builder.operation(DimensionOperation::kPROD, *in, *constant(builder, digit));
        IDimensionExpr const* sum = builder.operation(DimensionOperation::kSUM, *term, *carry);
        carry = builder.operation(DimensionOperation::kFLOOR_DIV, *sum, *constant(builder, 256));
    }
    IDimensionExpr const* whole = builder.operation(DimensionOperation::kPROD, *in, *constant(builder, steps.whole));
    return builder.operation(DimensionOperation::kSUM, *whole, *carry);
}

}  // namespace

DynamicResizePluginV2::DynamicResizePluginV2(resize::ResizeConfig config)
    : mConfig(std::move(config)), mSerialized(resize::serialize_config(mConfig)) {}

char const* DynamicResizePluginV2::getPluginType() const noexcept { return resize::kPluginName; }

char const* DynamicResizePluginV2::getPluginVersion() const noexcept { return resize::kPluginVersion; }

int32_t DynamicResizePluginV2::getNbOutputs() const noexcept { return 1; }

int32_t DynamicResizePluginV2::initialize() noexcept { return 0; }

void DynamicResizePluginV2::terminate() noexcept {}

size_t DynamicResizePluginV2::getSerializationSize() const noexcept { return mSerialized.size(); }

void DynamicResizePluginV2::serialize(void* buffer) const noexcept {
    if (buffer != nullptr && !mSerialized.empty()) {
        std::memcpy(buffer, mSerialized.data(), mSerialized.size());
    }
}

void DynamicResizePluginV2::destroy() noexcept { delete this; }

void DynamicResizePluginV2::setPluginNamespace(char const* pluginNamespace) noexcept {
    try {
        mNamespace = pluginNamespace != nullptr ? pluginNamespace : "";
    } catch (std::exception const& error) {
        log_error(std::string("DynamicTRTResize: setPluginNamespace failed: ") + error.what());
    }
}

char const* DynamicResizePluginV2::getPluginNamespace() const noexcept { return mNamespace.c_str(); }

DataType DynamicResizePluginV2::getOutputDataType(int32_t index, DataType const* inputTypes,
                                                  int32_t nbInputs) const noexcept {
    if (index != 0 || inputTypes == nullptr || nbInputs < 1 || !is_resizable_type(inputTypes[0])) {
        fail(std::string("DynamicTRTResize: input 0 must be ") + resizable_types() + " (got TensorRT DataType " +
             std::to_string(inputTypes != nullptr && nbInputs > 0 ? static_cast<int32_t>(inputTypes[0]) : -1) + ")");
        return DataType::kFLOAT;
    }
    return inputTypes[0];
}

nvinfer1::IPluginV2DynamicExt* DynamicResizePluginV2::clone() const noexcept {
    try {
        auto* copy = new DynamicResizePluginV2(mConfig);
        copy->mNamespace = mNamespace;
        return copy;
    } catch (std::exception const& error) {
        log_error(std::string("DynamicTRTResize: clone failed: ") + error.what());
    }
    return nullptr;
}

nvinfer1::DimsExprs DynamicResizePluginV2::getOutputDimensions(int32_t outputIndex, nvinfer1::DimsExprs const* inputs,
                                                               int32_t nbInputs,
                                                               nvinfer1::IExprBuilder& exprBuilder) noexcept {
    nvinfer1::DimsExprs output{};
    try {
        if (outputIndex != 0 || inputs == nullptr || nbInputs < 1) {
            fail("DynamicTRTResize: expected output 0 of a node with at least 1 input");
            return output;
        }
        nvinfer1::DimsExprs const& input = inputs[0];
        int32_t const rank = input.nbDims;
        int32_t const carrierRank = nbInputs > 1 ? inputs[1].nbDims : 0;
        resize::OutputPlan plan;
        std::string const error = resize::plan_output(mConfig, nbInputs, 0, rank, carrierRank, 0, &plan);
        if (!error.empty()) {
            fail(error);
            return output;
        }
        IDimensionExpr const* h = nullptr;
        IDimensionExpr const* w = nullptr;
        switch (plan.source) {
            case resize::SizeSource::kCARRIER:
                h = inputs[1].d[carrierRank - 2];
                w = inputs[1].d[carrierRank - 1];
                break;
            case resize::SizeSource::kSIZES:
                if (!fits_int32(plan.sizes_hw[0]) || !fits_int32(plan.sizes_hw[1])) {
                    fail("DynamicTRTResize: sizes must be below 2^31 for TensorRT " +
                         std::to_string(NV_TENSORRT_MAJOR) + ".x");
                    return output;
                }
                h = constant(exprBuilder, plan.sizes_hw[0]);
                w = constant(exprBuilder, plan.sizes_hw[1]);
                break;
            case resize::SizeSource::kSCALES:
                h = scaled(exprBuilder, input.d[rank - 2], plan.ratios_hw[0]);
                w = scaled(exprBuilder, input.d[rank - 1], plan.ratios_hw[1]);
                break;
            case resize::SizeSource::kSHAPE_INPUT:
                break;  // plan_output never chooses it without shape inputs
        }
        if (h == nullptr || w == nullptr) {
            fail("DynamicTRTResize: TensorRT could not build the output size expressions");
            return output;
        }
        output = input;
        output.d[rank - 2] = h;
        output.d[rank - 1] = w;
        return output;
    } catch (std::exception const& error) {
        fail(std::string("DynamicTRTResize: getOutputDimensions failed: ") + error.what());
    }
    return output;
}

bool DynamicResizePluginV2::supportsFormatCombination(int32_t pos, nvinfer1::PluginTensorDesc const* inOut,
                                                      int32_t nbInputs, int32_t nbOutputs) noexcept {
    if (inOut == nullptr || pos < 0 || pos >= nbInputs + nbOutputs) {
        return false;
    }
    return supports_format(pos, inOut[pos], inOut[0], nbInputs, nbOutputs);
}

void DynamicResizePluginV2::configurePlugin(nvinfer1::DynamicPluginTensorDesc const* in, int32_t nbInputs,
                                            nvinfer1::DynamicPluginTensorDesc const* out, int32_t nbOutputs) noexcept {
    if (in == nullptr || out == nullptr) {
        fail("DynamicTRTResize: configurePlugin got no tensors");
        return;
    }
    check_configuration(in[0].desc, out[0].desc, nbInputs, nbOutputs);
}

size_t DynamicResizePluginV2::getWorkspaceSize(nvinfer1::PluginTensorDesc const* /*inputs*/, int32_t /*nbInputs*/,
                                               nvinfer1::PluginTensorDesc const* /*outputs*/,
                                               int32_t /*nbOutputs*/) const noexcept {
    return 0;
}

int32_t DynamicResizePluginV2::enqueue(nvinfer1::PluginTensorDesc const* inputDesc,
                                       nvinfer1::PluginTensorDesc const* outputDesc, void const* const* inputs,
                                       void* const* outputs, void* /*workspace*/, cudaStream_t stream) noexcept {
    if (inputDesc == nullptr || outputDesc == nullptr || inputs == nullptr || outputs == nullptr) {
        return fail("DynamicTRTResize: enqueue got no tensors");
    }
    return run_resize(mConfig, inputDesc[0], outputDesc[0], inputs[0], outputs[0], stream);
}

DynamicResizeCreatorV2::DynamicResizeCreatorV2() {
    int32_t count = 0;
    resize::FieldView const* fields = resize::advertised_fields(&count);
    for (int32_t i = 0; i < count; ++i) {
        mFieldNames.emplace_back(fields[i].name, nullptr, static_cast<PluginFieldType>(fields[i].type),
                                 fields[i].length);
    }
    mFieldCollection.nbFields = static_cast<int32_t>(mFieldNames.size());
    mFieldCollection.fields = mFieldNames.data();
}

char const* DynamicResizeCreatorV2::getPluginName() const noexcept { return resize::kPluginName; }

char const* DynamicResizeCreatorV2::getPluginVersion() const noexcept { return resize::kPluginVersion; }

nvinfer1::PluginFieldCollection const* DynamicResizeCreatorV2::getFieldNames() noexcept { return &mFieldCollection; }

// IPluginCreator's signatures name the IPluginV2 base (see the header).
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
nvinfer1::IPluginV2* DynamicResizeCreatorV2::createPlugin(char const* name,
                                                          nvinfer1::PluginFieldCollection const* fc) noexcept {
    try {
        std::vector<resize::FieldView> fields;
        if (fc != nullptr) {
            for (int32_t i = 0; i < fc->nbFields; ++i) {
                nvinfer1::PluginField const& field = fc->fields[i];
                fields.push_back({field.name, field.data, static_cast<FieldType>(field.type), field.length});
            }
        }
        resize::ResizeConfig config;
        std::string const error = resize::parse_fields(fields.data(), static_cast<int32_t>(fields.size()), &config);
        if (!error.empty()) {
            log_error(error + " (layer '" + (name != nullptr ? name : "") + "')");
            return nullptr;
        }
        if (!config.shape_input_indices.empty()) {
            log_error("DynamicTRTResize: tensorrt_plugin_shape_input_indices needs TensorRT 10.1 or newer (plugin "
                      "shape inputs); this library was built for TensorRT " + std::to_string(NV_TENSORRT_MAJOR) +
                      ".x (layer '" + (name != nullptr ? name : "") + "')");
            return nullptr;
        }
        auto* plugin = new DynamicResizePluginV2(std::move(config));
        plugin->setPluginNamespace(mNamespace.c_str());
        return plugin;
    } catch (std::exception const& error) {
        log_error(std::string("DynamicTRTResize: createPlugin failed: ") + error.what());
    }
    return nullptr;
}

nvinfer1::IPluginV2* DynamicResizeCreatorV2::deserializePlugin(char const* name, void const* serialData,
                                                               size_t serialLength) noexcept {
    try {
        resize::ResizeConfig config;
        std::string const error = resize::deserialize_config(serialData, serialLength, &config);
        if (!error.empty()) {
            log_error(error + " (layer '" + (name != nullptr ? name : "") + "')");
            return nullptr;
        }
        auto* plugin = new DynamicResizePluginV2(std::move(config));
        plugin->setPluginNamespace(mNamespace.c_str());
        return plugin;
    } catch (std::exception const& error) {
        log_error(std::string("DynamicTRTResize: deserializePlugin failed: ") + error.what());
    }
    return nullptr;
}

#pragma GCC diagnostic pop

void DynamicResizeCreatorV2::setPluginNamespace(char const* pluginNamespace) noexcept {
    try {
        mNamespace = pluginNamespace != nullptr ? pluginNamespace : "";
    } catch (std::exception const& error) {
        log_error(std::string("DynamicTRTResize: setPluginNamespace failed: ") + error.what());
    }
}

char const* DynamicResizeCreatorV2::getPluginNamespace() const noexcept { return mNamespace.c_str(); }

DynamicResizeCreatorV2& dynamic_resize_creator() {
    static DynamicResizeCreatorV2 creator;
    return creator;
}

}  // namespace plugins
}  // namespace trtconvert
