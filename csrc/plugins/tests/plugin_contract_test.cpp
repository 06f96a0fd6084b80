// Our side of the TensorRT plugin contract, checked without TensorRT:
//
//   plugin_contract_test STAND_IN_LIBNVINFER LIBTRTCONVERT_PLUGINS
//   plugin_contract_test --plugin-first LIBTRTCONVERT_PLUGINS   (stand-in findable on LD_LIBRARY_PATH)
//
// The first form loads the stand-in registry library privately (as Python's tensorrt module loads libnvinfer),
// then the plugin library, and drives the library through TensorRT's interfaces: registration at load time,
// getCreators and setLoggerFinder as loadLibrary calls them, the creator with fields shaped as the ONNX parser
// shapes them, and every plugin capability with a stand-in expression builder. No kernel runs (enqueue only
// sees empty tensors). The second form loads the plugin library before any TensorRT, as polygraphy's
// LoadPlugins or LD_PRELOAD do, and checks that it registers in the libnvinfer it finds on the search path.
// What TensorRT itself does with the plugin is covered by the tests marked tensorrt.
#include <dlfcn.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <NvInferRuntime.h>

#include "check.h"
#include "recording_logger.h"

namespace {

using nvinfer1::DataType;
using nvinfer1::DimensionOperation;
using nvinfer1::IDimensionExpr;
using Env = std::map<std::string, int64_t>;

// ---- Expressions: each node evaluates itself under an assignment of the symbols.
class ExprImpl : public nvinfer1::apiv::VDimensionExpr {
public:
    ExprImpl(std::function<int64_t(Env const&)> eval, bool constant, int64_t value)
        : mEval(std::move(eval)), mConstant(constant), mValue(value) {}
    bool isConstant() const override { return mConstant; }
    int64_t getConstantValue() const override { return mConstant ? mValue : INT64_MIN; }
    bool isSizeTensor() const override { return false; }
    int64_t eval(Env const& env) const { return mEval(env); }

private:
    std::function<int64_t(Env const&)> mEval;
    bool mConstant;
    int64_t mValue;
};

class Expr : public IDimensionExpr {
public:
    Expr(std::function<int64_t(Env const&)> eval, bool constant, int64_t value) : mStorage(std::move(eval), constant, value) {
        mImpl = &mStorage;
    }
    ~Expr() noexcept override = default;
    int64_t eval(Env const& env) const { return mStorage.eval(env); }

private:
    ExprImpl mStorage;
};

int64_t floor_div(int64_t a, int64_t b) {
    int64_t q = a / b;
    return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

int64_t apply(DimensionOperation op, int64_t a, int64_t b) {
    switch (op) {
        case DimensionOperation::kSUM: return a + b;
        case DimensionOperation::kPROD: return a * b;
        case DimensionOperation::kMAX: return a > b ? a : b;
        case DimensionOperation::kMIN: return a < b ? a : b;
        case DimensionOperation::kSUB: return a - b;
        case DimensionOperation::kEQUAL: return a == b;
        case DimensionOperation::kLESS: return a < b;
        case DimensionOperation::kFLOOR_DIV: return floor_div(a, b);
        case DimensionOperation::kCEIL_DIV: return -floor_div(-a, b);
    }
    return 0;
}

class Builder;

class BuilderImpl : public nvinfer1::apiv::VExprBuilder {
public:
    IDimensionExpr const* constant(int64_t value) override {
        return add([value](Env const&) { return value; }, true, value);
    }
    IDimensionExpr const* operation(DimensionOperation op, IDimensionExpr const& first,
                                    IDimensionExpr const& second) override {
        auto const* a = static_cast<Expr const*>(&first);
        auto const* b = static_cast<Expr const*>(&second);
        if (a->isConstant() && b->isConstant()) {  // TensorRT folds constant expressions too
            int64_t const value = apply(op, a->getConstantValue(), b->getConstantValue());
            return add([value](Env const&) { return value; }, true, value);
        }
        return add([op, a, b](Env const& env) { return apply(op, a->eval(env), b->eval(env)); }, false, 0);
    }
    IDimensionExpr const* declareSizeTensor(int32_t, IDimensionExpr const&, IDimensionExpr const&) override {
        return nullptr;
    }
    IDimensionExpr const* symbol(std::string const& name) {
        return add([name](Env const& env) { return env.at(name); }, false, 0);
    }

private:
    IDimensionExpr const* add(std::function<int64_t(Env const&)> eval, bool constant, int64_t value) {
        mExprs.emplace_back(std::make_unique<Expr>(std::move(eval), constant, value));
        return mExprs.back().get();
    }
    std::deque<std::unique_ptr<Expr>> mExprs;
};

class Builder : public nvinfer1::IExprBuilder {
public:
    Builder() { mImpl = &mStorage; }
    ~Builder() noexcept override = default;
    IDimensionExpr const* symbol(std::string const& name) { return mStorage.symbol(name); }
    IDimensionExpr const* number(int64_t value) { return mStorage.constant(value); }

private:
    BuilderImpl mStorage;
};

nvinfer1::DimsExprs dims_exprs(std::vector<IDimensionExpr const*> const& entries) {
    nvinfer1::DimsExprs dims{};
    dims.nbDims = static_cast<int32_t>(entries.size());
    for (size_t i = 0; i < entries.size(); ++i) {
        dims.d[i] = entries[i];
    }
    return dims;
}

std::vector<int64_t> evaluate(nvinfer1::DimsExprs const& dims, Env const& env) {
    std::vector<int64_t> values;
    for (int32_t i = 0; i < dims.nbDims; ++i) {
        values.push_back(static_cast<Expr const*>(dims.d[i])->eval(env));
    }
    return values;
}

// ---- Logging through the finder that loadLibrary hands over.
class Finder : public nvinfer1::ILoggerFinder {
public:
    nvinfer1::ILogger* findLogger() override { return &logger; }
    RecordingLogger logger;
};

// ---- Fields as TensorRT's ONNX parser builds them from node attributes.
class Fields {
public:
    Fields& str(char const* name, std::string const& value) {
        mStrings.push_back(value);
        mFields.emplace_back(name, mStrings.back().c_str(), nvinfer1::PluginFieldType::kCHAR,
                             static_cast<int32_t>(value.size() + 1));
        return *this;
    }
    Fields& i32(char const* name, std::vector<int32_t> values) {
        mInts.push_back(std::move(values));
        mFields.emplace_back(name, mInts.back().data(), nvinfer1::PluginFieldType::kINT32,
                             static_cast<int32_t>(mInts.back().size()));
        return *this;
    }
    Fields& f32(char const* name, std::vector<float> values) {
        mFloats.push_back(std::move(values));
        mFields.emplace_back(name, mFloats.back().data(), nvinfer1::PluginFieldType::kFLOAT32,
                             static_cast<int32_t>(mFloats.back().size()));
        return *this;
    }
    nvinfer1::PluginFieldCollection const* collection() {
        mCollection.nbFields = static_cast<int32_t>(mFields.size());
        mCollection.fields = mFields.data();
        return &mCollection;
    }

private:
    std::vector<nvinfer1::PluginField> mFields;
    std::deque<std::string> mStrings;
    std::deque<std::vector<int32_t>> mInts;
    std::deque<std::vector<float>> mFloats;
    nvinfer1::PluginFieldCollection mCollection{};
};

Fields node_fields() {
    Fields fields;
    fields.str("coordinate_transformation_mode", "pytorch_half_pixel")
        .f32("cubic_coeff_a", {-0.75f})
        .i32("exclude_outside", {0})
        .i32("antialias", {0});
    return fields;
}

struct Plugin {
    nvinfer1::IPluginV3* v3;
    nvinfer1::IPluginV3OneCore* core;
    nvinfer1::IPluginV3OneBuild* build;
    nvinfer1::IPluginV3OneRuntime* runtime;
};

Plugin capabilities(nvinfer1::IPluginV3* plugin) {
    return {plugin,
            static_cast<nvinfer1::IPluginV3OneCore*>(plugin->getCapabilityInterface(nvinfer1::PluginCapabilityType::kCORE)),
            static_cast<nvinfer1::IPluginV3OneBuild*>(plugin->getCapabilityInterface(nvinfer1::PluginCapabilityType::kBUILD)),
            static_cast<nvinfer1::IPluginV3OneRuntime*>(
                plugin->getCapabilityInterface(nvinfer1::PluginCapabilityType::kRUNTIME))};
}

nvinfer1::DynamicPluginTensorDesc tensor_desc(std::vector<int64_t> const& dims, DataType type,
                                              nvinfer1::TensorFormat format = nvinfer1::TensorFormat::kLINEAR) {
    nvinfer1::DynamicPluginTensorDesc desc{};
    desc.desc.dims.nbDims = static_cast<int32_t>(dims.size());
    for (size_t i = 0; i < dims.size(); ++i) {
        desc.desc.dims.d[i] = dims[i];
    }
    desc.desc.type = type;
    desc.desc.format = format;
    desc.desc.scale = -1.0f;
    desc.min = desc.max = desc.opt = desc.desc.dims;
    return desc;
}

std::vector<std::string> field_names(nvinfer1::PluginFieldCollection const* fc) {
    std::vector<std::string> names;
    for (int32_t i = 0; fc != nullptr && i < fc->nbFields; ++i) {
        names.emplace_back(fc->fields[i].name);
    }
    return names;
}

bool contains(std::vector<std::string> const& names, char const* name) {
    for (std::string const& entry : names) {
        if (entry == name) {
            return true;
        }
    }
    return false;
}

int32_t count_creators(nvinfer1::IPluginRegistry* registry) {
    int32_t count = 0;
    registry->getAllCreators(&count);
    return count;
}

template <typename Fn>
Fn symbol(void* handle, char const* name) {
    void* address = dlsym(handle, name);
    Fn function = nullptr;
    std::memcpy(&function, &address, sizeof(function));
    return function;
}

void check_shapes(nvinfer1::IPluginCreatorV3One* creator) {
    Builder builder;
    Env env{{"N", 3}, {"H", 17}, {"W", 10}, {"OH", 68}, {"OW", 40}, {"S0", 33}, {"S1", 21}};
    nvinfer1::DimsExprs const x = dims_exprs({builder.symbol("N"), builder.number(3), builder.symbol("H"),
                                              builder.symbol("W")});

    Fields plain = node_fields();
    std::unique_ptr<nvinfer1::IPluginV3> plugin(creator->createPlugin("resize", plain.collection(),
                                                                      nvinfer1::TensorRTPhase::kBUILD));
    CHECK(plugin != nullptr);
    if (plugin == nullptr) {
        return;
    }
    Plugin p = capabilities(plugin.get());

    // Input 1 as a size carrier: the output takes its last two dims.
    nvinfer1::DimsExprs const carrier =
        dims_exprs({builder.number(1), builder.number(1), builder.symbol("OH"), builder.symbol("OW")});
    nvinfer1::DimsExprs inputs[2] = {x, carrier};
    nvinfer1::DimsExprs out{};
    CHECK(p.build->getOutputShapes(inputs, 2, nullptr, 0, &out, 1, builder) == 0);
    CHECK((evaluate(out, env) == std::vector<int64_t>{3, 3, 68, 40}));

    // Input 1 as a shape input: the output takes its two values.
    nvinfer1::DimsExprs const shape = dims_exprs({builder.symbol("S0"), builder.symbol("S1")});
    CHECK(p.build->getOutputShapes(&x, 1, &shape, 1, &out, 1, builder) == 0);
    CHECK((evaluate(out, env) == std::vector<int64_t>{3, 3, 33, 21}));

    // No size at all is refused with a reason.
    CHECK(p.build->getOutputShapes(&x, 1, nullptr, 0, &out, 1, builder) != 0);

    // sizes: constants.
    Fields with_sizes = node_fields();
    with_sizes.i32("sizes", {9, 8});
    std::unique_ptr<nvinfer1::IPluginV3> sized(creator->createPlugin("resize", with_sizes.collection(),
                                                                     nvinfer1::TensorRTPhase::kBUILD));
    CHECK(sized != nullptr);
    if (sized != nullptr) {
        CHECK(capabilities(sized.get()).build->getOutputShapes(&x, 1, nullptr, 0, &out, 1, builder) == 0);
        CHECK(out.d[2]->isConstant() && out.d[2]->getConstantValue() == 9);
        CHECK((evaluate(out, env) == std::vector<int64_t>{3, 3, 9, 8}));
    }

    // scales: floor(in * scale) exactly, for every input length the expression is evaluated at.
    Fields with_scales = node_fields();
    with_scales.f32("scales", {0.7f, 2.5f});
    std::unique_ptr<nvinfer1::IPluginV3> scaled(creator->createPlugin("resize", with_scales.collection(),
                                                                      nvinfer1::TensorRTPhase::kBUILD));
    CHECK(scaled != nullptr);
    if (scaled != nullptr) {
        CHECK(capabilities(scaled.get()).build->getOutputShapes(&x, 1, nullptr, 0, &out, 1, builder) == 0);
        int mismatches = 0;
        for (int64_t h = 0; h <= 3000; ++h) {
            Env sized_env = env;
            sized_env["H"] = h;
            sized_env["W"] = h + 1;
            std::vector<int64_t> const got = evaluate(out, sized_env);
            int64_t const want_h = static_cast<int64_t>(std::floor(static_cast<long double>(h) * 0.7f));
            int64_t const want_w = static_cast<int64_t>(std::floor(static_cast<long double>(h + 1) * 2.5f));
            mismatches += got[2] != want_h || got[3] != want_w || got[0] != 3 || got[1] != 3;
        }
        CHECK(mismatches == 0);
        env["H"] = 10;
        CHECK(evaluate(out, env)[2] == 6);  // 10 * 0.7f is 6.99999988 exactly
    }
}

void check_build_and_runtime(nvinfer1::IPluginCreatorV3One* creator, RecordingLogger& logger) {
    Fields fields = node_fields();
    nvinfer1::IPluginV3* raw = creator->createPlugin("resize", fields.collection(), nvinfer1::TensorRTPhase::kBUILD);
    CHECK(raw != nullptr);
    if (raw == nullptr) {
        return;
    }
    std::unique_ptr<nvinfer1::IPluginV3> plugin(raw);
    Plugin p = capabilities(raw);
    CHECK(p.core != nullptr && p.build != nullptr && p.runtime != nullptr);
    CHECK(std::strcmp(p.core->getPluginName(), "DynamicTRTResize") == 0);
    CHECK(std::strcmp(p.core->getPluginVersion(), "1") == 0);
    CHECK(std::strcmp(p.core->getPluginNamespace(), "") == 0);
    CHECK(std::strcmp(p.core->getInterfaceInfo().kind, "PLUGIN_V3ONE_CORE") == 0);
    CHECK(std::strcmp(p.build->getInterfaceInfo().kind, "PLUGIN_V3ONE_BUILD") == 0);
    CHECK(std::strcmp(p.runtime->getInterfaceInfo().kind, "PLUGIN_V3ONE_RUNTIME") == 0);
    CHECK(p.build->getNbOutputs() == 1);
    CHECK(std::string(p.build->getMetadataString()).find("pytorch_half_pixel") != std::string::npos);

    // Output type follows the input; only FP32, FP16 and BF16 are resized.
    for (DataType type : {DataType::kFLOAT, DataType::kHALF, DataType::kBF16}) {
        DataType inputs[2] = {type, DataType::kINT32};
        DataType output = DataType::kINT8;
        CHECK(p.build->getOutputDataTypes(&output, 1, inputs, 2) == 0);
        CHECK(output == type);
    }
    DataType const int_input = DataType::kINT32;
    DataType output = DataType::kFLOAT;
    CHECK(p.build->getOutputDataTypes(&output, 1, &int_input, 1) != 0);

    // Formats: linear only; the output matches input 0; the size carrier may be anything linear.
    nvinfer1::DynamicPluginTensorDesc io[3] = {tensor_desc({1, 3, 4, 5}, DataType::kHALF),
                                               tensor_desc({1, 1, 8, 10}, DataType::kINT64),
                                               tensor_desc({1, 3, 8, 10}, DataType::kHALF)};
    CHECK(p.build->supportsFormatCombination(0, io, 2, 1));
    CHECK(p.build->supportsFormatCombination(1, io, 2, 1));
    CHECK(p.build->supportsFormatCombination(2, io, 2, 1));
    io[2].desc.type = DataType::kFLOAT;
    CHECK(!p.build->supportsFormatCombination(2, io, 2, 1));
    io[0].desc.type = DataType::kINT8;
    CHECK(!p.build->supportsFormatCombination(0, io, 2, 1));
    io[0] = tensor_desc({1, 3, 4, 5}, DataType::kFLOAT, nvinfer1::TensorFormat::kCHW32);
    CHECK(!p.build->supportsFormatCombination(0, io, 2, 1));
    CHECK(!p.build->supportsFormatCombination(3, io, 2, 1));

    nvinfer1::DynamicPluginTensorDesc in[2] = {tensor_desc({2, 3, 7, 11}, DataType::kFLOAT),
                                               tensor_desc({1, 1, 14, 22}, DataType::kFLOAT)};
    nvinfer1::DynamicPluginTensorDesc outDesc = tensor_desc({2, 3, 14, 22}, DataType::kFLOAT);
    CHECK(p.build->configurePlugin(in, 2, &outDesc, 1) == 0);
    CHECK(p.build->getWorkspaceSize(in, 2, &outDesc, 1) == 0);
    nvinfer1::DynamicPluginTensorDesc const wrongType = tensor_desc({2, 3, 14, 22}, DataType::kHALF);
    CHECK(p.build->configurePlugin(in, 2, &wrongType, 1) != 0);

    // Runtime: shape changes are validated; an empty batch enqueues nothing and succeeds.
    nvinfer1::PluginTensorDesc rin[2] = {in[0].desc, in[1].desc};
    CHECK(p.runtime->onShapeChange(rin, 2, &outDesc.desc, 1) == 0);
    nvinfer1::PluginTensorDesc badOut = tensor_desc({2, 4, 14, 22}, DataType::kFLOAT).desc;
    logger.messages.clear();
    CHECK(p.runtime->onShapeChange(rin, 2, &badOut, 1) != 0);
    CHECK(logger.saw("only H and W"));
    nvinfer1::PluginTensorDesc emptyIn = tensor_desc({0, 3, 7, 11}, DataType::kFLOAT).desc;
    nvinfer1::PluginTensorDesc emptyOut = tensor_desc({0, 3, 14, 22}, DataType::kFLOAT).desc;
    void const* inputs[2] = {nullptr, nullptr};
    void* outputs[1] = {nullptr};
    CHECK(p.runtime->enqueue(&emptyIn, &emptyOut, inputs, outputs, nullptr, nullptr) == 0);

    // Serialization: the runtime phase rebuilds an equal plugin from getFieldsToSerialize.
    nvinfer1::PluginFieldCollection const* saved = p.runtime->getFieldsToSerialize();
    CHECK(saved != nullptr && saved->nbFields >= 4);
    std::unique_ptr<nvinfer1::IPluginV3> restored(creator->createPlugin("resize", saved,
                                                                        nvinfer1::TensorRTPhase::kRUNTIME));
    CHECK(restored != nullptr);
    if (restored != nullptr) {
        Plugin r = capabilities(restored.get());
        CHECK(std::string(r.build->getMetadataString()) == p.build->getMetadataString());
    }

    // clone and attachToContext give independent, equal plugins.
    std::unique_ptr<nvinfer1::IPluginV3> clone(raw->clone());
    std::unique_ptr<nvinfer1::IPluginV3> attached(p.runtime->attachToContext(nullptr));
    CHECK(clone != nullptr && attached != nullptr && clone.get() != raw && attached.get() != raw);
    if (clone != nullptr && attached != nullptr) {
        CHECK(std::string(capabilities(clone.get()).build->getMetadataString()) == p.build->getMetadataString());
        CHECK(std::string(capabilities(attached.get()).build->getMetadataString()) == p.build->getMetadataString());
    }
}

}  // namespace

// The plugin library first, TensorRT after: registration must land in the libnvinfer that the library loaded,
// which is the instance any later user of the same soname gets.
int plugin_first(char const* plugin_path) {
    void* library = dlopen(plugin_path, RTLD_NOW | RTLD_LOCAL);
    if (library == nullptr) {
        std::printf("cannot load %s: %s\n", plugin_path, dlerror());
        return 2;
    }
    std::string const soname = "libnvinfer.so." + std::to_string(NV_TENSORRT_MAJOR);
    void* nvinfer = dlopen(soname.c_str(), RTLD_NOW | RTLD_LOCAL | RTLD_NOLOAD);
    CHECK(nvinfer != nullptr);  // loaded by the plugin library
    if (nvinfer == nullptr) {
        std::printf("%d checks, %d failed\n", gChecks, gFailures);
        return 1;
    }
    auto get_registry = symbol<nvinfer1::IPluginRegistry* (*)() noexcept>(nvinfer, "getPluginRegistry");
    nvinfer1::IPluginRegistry* registry = get_registry();
    CHECK(count_creators(registry) == 1);
    CHECK(registry->getCreator("DynamicTRTResize", "1", "") != nullptr);
    std::printf("%d checks, %d failed\n", gChecks, gFailures);
    return gFailures == 0 ? 0 : 1;
}

int main(int argc, char** argv) {
    if (argc == 3 && std::strcmp(argv[1], "--plugin-first") == 0) {
        return plugin_first(argv[2]);
    }
    if (argc != 3) {
        std::printf("usage: %s STAND_IN_LIBNVINFER LIBTRTCONVERT_PLUGINS\n", argv[0]);
        std::printf("       %s --plugin-first LIBTRTCONVERT_PLUGINS\n", argv[0]);
        return 2;
    }
    // Privately, as a Python extension module loads libnvinfer: its symbols are not global.
    void* nvinfer = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
    if (nvinfer == nullptr) {
        std::printf("cannot load %s: %s\n", argv[1], dlerror());
        return 2;
    }
    CHECK(dlsym(RTLD_DEFAULT, "getPluginRegistry") == nullptr);
    auto get_registry = symbol<nvinfer1::IPluginRegistry* (*)() noexcept>(nvinfer, "getPluginRegistry");
    nvinfer1::IPluginRegistry* registry = get_registry();
    CHECK(count_creators(registry) == 0);

    void* library = dlopen(argv[2], RTLD_NOW | RTLD_LOCAL);
    if (library == nullptr) {
        std::printf("cannot load %s: %s\n", argv[2], dlerror());
        return 2;
    }
    // Registered while loading (ctypes.CDLL, trtexec --staticPlugins, polygraphy LoadPlugins).
    CHECK(count_creators(registry) == 1);
    auto* found = registry->getCreator("DynamicTRTResize", "1", "");
    CHECK(found != nullptr);
    if (found == nullptr) {
        std::printf("%d checks, %d failed\n", gChecks, gFailures + 1);
        return 1;
    }
    CHECK(std::strcmp(found->getInterfaceInfo().kind, "PLUGIN CREATOR_V3ONE") == 0);
    auto* creator = static_cast<nvinfer1::IPluginCreatorV3One*>(found);
    CHECK(std::strcmp(creator->getPluginNamespace(), "") == 0);

    auto register_plugins = symbol<int32_t (*)()>(library, "trtconvert_register_plugins");
    auto get_creators = symbol<nvinfer1::IPluginCreatorInterface* const* (*)(int32_t&)>(library, "getCreators");
    auto set_logger_finder = symbol<void (*)(nvinfer1::ILoggerFinder*)>(library, "setLoggerFinder");
    CHECK(register_plugins != nullptr && get_creators != nullptr && set_logger_finder != nullptr);
    if (register_plugins == nullptr || get_creators == nullptr || set_logger_finder == nullptr) {
        std::printf("%d checks, %d failed\n", gChecks, gFailures);
        return 1;
    }
    CHECK(register_plugins() == 1);  // idempotent
    auto compiled_version = symbol<int32_t (*)()>(library, "trtconvert_plugins_tensorrt_version");
    CHECK(compiled_version != nullptr && compiled_version() == NV_TENSORRT_VERSION);
    CHECK(count_creators(registry) == 1);

    Finder finder;
    set_logger_finder(&finder);

    std::vector<std::string> const names = field_names(creator->getFieldNames());
    for (char const* name : {"coordinate_transformation_mode", "cubic_coeff_a", "exclude_outside", "antialias",
                             "scales", "sizes", "tensorrt_plugin_shape_input_indices", "align_corners"}) {
        CHECK(contains(names, name));
    }

    // A bad attribute: no plugin, and the reason reaches TensorRT's logger.
    Fields bad = node_fields();
    bad.i32("cubic_coeff", {1});
    CHECK(creator->createPlugin("bad_resize", bad.collection(), nvinfer1::TensorRTPhase::kBUILD) == nullptr);
    CHECK(finder.logger.saw("cubic_coeff") && finder.logger.saw("bad_resize"));

    check_shapes(creator);
    check_build_and_runtime(creator, finder.logger);

    // loadLibrary's view: getCreators withdraws the load-time registration so that TensorRT can register the
    // same creators itself, and later calls do not register them again behind its back.
    int32_t count = 0;
    nvinfer1::IPluginCreatorInterface* const* creators = get_creators(count);
    CHECK(count == 1 && creators != nullptr && creators[0] == found);
    CHECK(count_creators(registry) == 0);
    CHECK(registry->registerCreator(*creators[0], ""));
    CHECK(register_plugins() == 1);
    CHECK(count_creators(registry) == 1);
    CHECK(registry->deregisterCreator(*creators[0]));

    std::printf("%d checks, %d failed\n", gChecks, gFailures);
    return gFailures == 0 ? 0 : 1;
}
