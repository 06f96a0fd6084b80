#include "dynamic_resize_plugin.h"

#include <exception>
#include <new>
#include <utility>

#include "../common/plugin_logging.h"
#include "dynamic_resize_common.h"

namespace trtconvert {
namespace plugins {
namespace {

using nvinfer1::DataType;
using nvinfer1::PluginFieldType;
using resize::FieldType;

}  // namespace

DynamicResizePlugin::DynamicResizePlugin(resize::ResizeConfig config)
    : mConfig(std::move(config)), mMetadata(resize::describe(mConfig)) {}

nvinfer1::IPluginCapability* DynamicResizePlugin::getCapabilityInterface(nvinfer1::PluginCapabilityType type) noexcept {
    switch (type) {
        case nvinfer1::PluginCapabilityType::kCORE: return static_cast<nvinfer1::IPluginV3OneCore*>(this);
        case nvinfer1::PluginCapabilityType::kBUILD: return static_cast<nvinfer1::IPluginV3OneBuild*>(this);
        case nvinfer1::PluginCapabilityType::kRUNTIME: return static_cast<nvinfer1::IPluginV3OneRuntime*>(this);
    }
    return nullptr;
}

nvinfer1::IPluginV3* DynamicResizePlugin::clone() noexcept {
    try {
        return new DynamicResizePlugin(mConfig);
    } catch (std::exception const& error) {
        log_error(std::string("DynamicTRTResize: clone failed: ") + error.what());
    }
    return nullptr;
}

char const* DynamicResizePlugin::getPluginName() const noexcept { return resize::kPluginName; }

char const* DynamicResizePlugin::getPluginVersion() const noexcept { return resize::kPluginVersion; }

char const* DynamicResizePlugin::getPluginNamespace() const noexcept { return resize::kPluginNamespace; }

int32_t DynamicResizePlugin::configurePlugin(nvinfer1::DynamicPluginTensorDesc const* in, int32_t nbInputs,
                                             nvinfer1::DynamicPluginTensorDesc const* out,
                                             int32_t nbOutputs) noexcept {
    if (in == nullptr || out == nullptr) {
        return fail("DynamicTRTResize: configurePlugin got no tensors");
    }
    return check_configuration(in[0].desc, out[0].desc, nbInputs, nbOutputs);
}

int32_t DynamicResizePlugin::getOutputDataTypes(DataType* outputTypes, int32_t nbOutputs, DataType const* inputTypes,
                                                int32_t nbInputs) const noexcept {
    if (outputTypes == nullptr || inputTypes == nullptr || nbOutputs != 1 || nbInputs < 1) {
        return fail("DynamicTRTResize: expected at least 1 input and exactly 1 output");
    }
    if (!is_resizable_type(inputTypes[0])) {
        return fail(std::string("DynamicTRTResize: input 0 must be ") + resizable_types() + " (got TensorRT DataType " +
                    std::to_string(static_cast<int32_t>(inputTypes[0])) + ")");
    }
    outputTypes[0] = inputTypes[0];
    return 0;
}

int32_t DynamicResizePlugin::getOutputShapes(nvinfer1::DimsExprs const* inputs, int32_t nbInputs,
                                             nvinfer1::DimsExprs const* shapeInputs, int32_t nbShapeInputs,
                                             nvinfer1::DimsExprs* outputs, int32_t nbOutputs,
                                             nvinfer1::IExprBuilder& exprBuilder) noexcept {
    try {
        if (inputs == nullptr || outputs == nullptr || nbInputs < 1 || nbOutputs != 1 ||
            (nbShapeInputs > 0 && shapeInputs == nullptr)) {
            return fail("DynamicTRTResize: expected at least 1 input and exactly 1 output");
        }
        nvinfer1::DimsExprs const& input = inputs[0];
        int32_t const rank = input.nbDims;
        int32_t const carrierRank = nbInputs > 1 ? inputs[1].nbDims : 0;
        int32_t const shapeValues = nbShapeInputs > 0 ? shapeInputs[0].nbDims : 0;
        resize::OutputPlan plan;
        std::string error = resize::plan_output(mConfig, nbInputs, nbShapeInputs, rank, carrierRank, shapeValues, &plan);
        if (!error.empty()) {
            return fail(error);
        }
        nvinfer1::DimsExprs& output = outputs[0];
        output = input;
        nvinfer1::IDimensionExpr const* h = nullptr;
        nvinfer1::IDimensionExpr const* w = nullptr;
        switch (plan.source) {
            case resize::SizeSource::kCARRIER:
                h = inputs[1].d[carrierRank - 2];
                w = inputs[1].d[carrierRank - 1];
                break;
            case resize::SizeSource::kSHAPE_INPUT:
                h = shapeInputs[0].d[0];
                w = shapeInputs[0].d[1];
                break;
            case resize::SizeSource::kSIZES:
                h = exprBuilder.constant(plan.sizes_hw[0]);
                w = exprBuilder.constant(plan.sizes_hw[1]);
                break;
            case resize::SizeSource::kSCALES: {
                // floor(in * num / den), the same integer arithmetic as resize::scaled_length.
                auto scaled = [&exprBuilder](nvinfer1::IDimensionExpr const* in, resize::Ratio ratio) {
                    nvinfer1::IDimensionExpr const* product = exprBuilder.operation(
                        nvinfer1::DimensionOperation::kPROD, *in, *exprBuilder.constant(ratio.num));
                    return exprBuilder.operation(nvinfer1::DimensionOperation::kFLOOR_DIV, *product,
                                                 *exprBuilder.constant(ratio.den));
                };
                h = scaled(input.d[rank - 2], plan.ratios_hw[0]);
                w = scaled(input.d[rank - 1], plan.ratios_hw[1]);
                break;
            }
        }
        if (h == nullptr || w == nullptr) {
            return fail("DynamicTRTResize: TensorRT could not build the output size expressions");
        }
        output.d[rank - 2] = h;
        output.d[rank - 1] = w;
        return 0;
    } catch (std::exception const& error) {
        return fail(std::string("DynamicTRTResize: getOutputShapes failed: ") + error.what());
    }
}

bool DynamicResizePlugin::supportsFormatCombination(int32_t pos, nvinfer1::DynamicPluginTensorDesc const* inOut,
                                                    int32_t nbInputs, int32_t nbOutputs) noexcept {
    if (inOut == nullptr || pos < 0 || pos >= nbInputs + nbOutputs) {
        return false;
    }
    return supports_format(pos, inOut[pos].desc, inOut[0].desc, nbInputs, nbOutputs);
}

int32_t DynamicResizePlugin::getNbOutputs() const noexcept { return 1; }

size_t DynamicResizePlugin::getWorkspaceSize(nvinfer1::DynamicPluginTensorDesc const* /*inputs*/, int32_t /*nbInputs*/,
                                             nvinfer1::DynamicPluginTensorDesc const* /*outputs*/,
                                             int32_t /*nbOutputs*/) const noexcept {
    return 0;
}

char const* DynamicResizePlugin::getMetadataString() noexcept { return mMetadata.c_str(); }

int32_t DynamicResizePlugin::onShapeChange(nvinfer1::PluginTensorDesc const* in, int32_t nbInputs,
                                           nvinfer1::PluginTensorDesc const* out, int32_t nbOutputs) noexcept {
    if (in == nullptr || out == nullptr || nbInputs < 1 || nbOutputs != 1) {
        return fail("DynamicTRTResize: expected at least 1 input and exactly 1 output");
    }
    return check_shapes(mConfig, in[0], out[0]);
}

int32_t DynamicResizePlugin::enqueue(nvinfer1::PluginTensorDesc const* inputDesc,
                                     nvinfer1::PluginTensorDesc const* outputDesc, void const* const* inputs,
                                     void* const* outputs, void* /*workspace*/, cudaStream_t stream) noexcept {
    if (inputDesc == nullptr || outputDesc == nullptr || inputs == nullptr || outputs == nullptr) {
        return fail("DynamicTRTResize: enqueue got no tensors");
    }
    return run_resize(mConfig, inputDesc[0], outputDesc[0], inputs[0], outputs[0], stream);
}

nvinfer1::IPluginV3* DynamicResizePlugin::attachToContext(nvinfer1::IPluginResourceContext* /*context*/) noexcept {
    return clone();
}

nvinfer1::PluginFieldCollection const* DynamicResizePlugin::getFieldsToSerialize() noexcept {
    try {
        mSerialized = std::make_unique<resize::SerializedFields>(mConfig);
        mSerializedFields.clear();
        for (int32_t i = 0; i < mSerialized->size(); ++i) {
            resize::FieldView const& field = mSerialized->data()[i];
            mSerializedFields.emplace_back(field.name, field.data, static_cast<PluginFieldType>(field.type),
                                           field.length);
        }
        mSerializedCollection.nbFields = static_cast<int32_t>(mSerializedFields.size());
        mSerializedCollection.fields = mSerializedFields.data();
        return &mSerializedCollection;
    } catch (std::exception const& error) {
        log_error(std::string("DynamicTRTResize: serialization failed: ") + error.what());
    }
    return nullptr;
}

DynamicResizeCreator::DynamicResizeCreator() {
    int32_t count = 0;
    resize::FieldView const* fields = resize::advertised_fields(&count);
    for (int32_t i = 0; i < count; ++i) {
        mFieldNames.emplace_back(fields[i].name, nullptr, static_cast<PluginFieldType>(fields[i].type),
                                 fields[i].length);
    }
    mFieldCollection.nbFields = static_cast<int32_t>(mFieldNames.size());
    mFieldCollection.fields = mFieldNames.data();
}

nvinfer1::IPluginV3* DynamicResizeCreator::createPlugin(char const* name, nvinfer1::PluginFieldCollection const* fc,
                                                        nvinfer1::TensorRTPhase /*phase*/) noexcept {
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
        return new DynamicResizePlugin(std::move(config));
    } catch (std::exception const& error) {
        log_error(std::string("DynamicTRTResize: createPlugin failed: ") + error.what());
    }
    return nullptr;
}

nvinfer1::PluginFieldCollection const* DynamicResizeCreator::getFieldNames() noexcept { return &mFieldCollection; }

char const* DynamicResizeCreator::getPluginName() const noexcept { return resize::kPluginName; }

char const* DynamicResizeCreator::getPluginVersion() const noexcept { return resize::kPluginVersion; }

char const* DynamicResizeCreator::getPluginNamespace() const noexcept { return resize::kPluginNamespace; }

DynamicResizeCreator& dynamic_resize_creator() {
    static DynamicResizeCreator creator;
    return creator;
}

}  // namespace plugins
}  // namespace trtconvert
