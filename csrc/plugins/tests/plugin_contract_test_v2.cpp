// Our side of the TensorRT plugin contract for the IPluginV2DynamicExt build (TensorRT 8.5 to 9.x), checked
// without TensorRT:
//
//   plugin_contract_test STAND_IN_LIBNVINFER LIBTRTCONVERT_PLUGINS
//   plugin_contract_test --plugin-first LIBTRTCONVERT_PLUGINS   (stand-in findable on LD_LIBRARY_PATH)
//
// As plugin_contract_test.cpp does for IPluginV3: registration at load time and through getPluginCreators, the
// creator with fields shaped as the ONNX parser shapes them, output dimensions under a stand-in expression
// builder (32-bit, as these versions have it), formats, types, the serialized bytes and deserializePlugin. No
// kernel runs. What TensorRT itself does with the plugin is covered by the tests marked tensorrt.
#include <dlfcn.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <deque>
#include <functional>
#include <limits>
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

// ---- Expressions with 32-bit values: an operation whose result leaves int32 is recorded as an overflow.
int gOverflows = 0;

class ExprImpl : public nvinfer1::apiv::VDimensionExpr {
public:
    ExprImpl(std::function<int64_t(Env const&)> eval, bool constant, int32_t value)
        : mEval(std::move(eval)), mConstant(constant), mValue(value) {}
    bool isConstant() const override { return mConstant; }
    int32_t getConstantValue() const override { return mConstant ? mValue : std::numeric_limits<int32_t>::min(); }
    int64_t eval(Env const& env) const {
        int64_t const value = mEval(env);
        gOverflows += value > std::numeric_limits<int32_t>::max() || value < std::numeric_limits<int32_t>::min();
        return value;
    }

private:
    std::function<int64_t(Env const&)> mEval;
    bool mConstant;
    int32_t mValue;
};

class Expr : public IDimensionExpr {
public:
    Expr(std::function<int64_t(Env const&)> eval, bool constant, int32_t value)
        : mStorage(std::move(eval), constant, value) {
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

class BuilderImpl : public nvinfer1::apiv::VExprBuilder {
public:
    IDimensionExpr const* constant(int32_t value) override {
        return add([value](Env const&) { return value; }, true, value);
    }
    IDimensionExpr const* operation(DimensionOperation op, IDimensionExpr const& first,
                                    IDimensionExpr const& second) override {
        auto const* a = static_cast<Expr const*>(&first);
        auto const* b = static_cast<Expr const*>(&second);
        if (a->isConstant() && b->isConstant()) {  // TensorRT folds constant expressions too
            int64_t const value = apply(op, a->getConstantValue(), b->getConstantValue());
            return add([value](Env const&) { return value; }, true, static_cast<int32_t>(value));
        }
        return add([op, a, b](Env const& env) { return apply(op, a->eval(env), b->eval(env)); }, false, 0);
    }
    IDimensionExpr const* symbol(std::string const& name) {
        return add([name](Env const& env) { return env.at(name); }, false, 0);
    }

private:
    IDimensionExpr const* add(std::function<int64_t(Env const&)> eval, bool constant, int32_t value) {
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
    IDimensionExpr const* number(int32_t value) { return mStorage.constant(value); }

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
        values.push_back(dims.d[i] == nullptr ? -1 : static_cast<Expr const*>(dims.d[i])->eval(env));
    }
    return values;
}

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

struct PluginDeleter {
    void operator()(nvinfer1::IPluginV2DynamicExt* plugin) const {
        if (plugin != nullptr) {
            plugin->destroy();
        }
    }
};
using PluginPtr = std::unique_ptr<nvinfer1::IPluginV2DynamicExt, PluginDeleter>;

PluginPtr create(nvinfer1::IPluginCreator* creator, Fields& fields) {
    return PluginPtr(static_cast<nvinfer1::IPluginV2DynamicExt*>(creator->createPlugin("resize", fields.collection())));
}

nvinfer1::PluginTensorDesc tensor_desc(std::vector<int32_t> const& dims, DataType type,
                                       nvinfer1::TensorFormat format = nvinfer1::TensorFormat::kLINEAR) {
    nvinfer1::PluginTensorDesc desc{};
    desc.dims.nbDims = static_cast<int32_t>(dims.size());
    for (size_t i = 0; i < dims.size(); ++i) {
        desc.dims.d[i] = dims[i];
    }
    desc.type = type;
    desc.format = format;
    desc.scale = -1.0f;
    return desc;
}

nvinfer1::DynamicPluginTensorDesc dynamic_desc(std::vector<int32_t> const& dims, DataType type) {
    nvinfer1::DynamicPluginTensorDesc desc{};
    desc.desc = tensor_desc(dims, type);
    desc.min = desc.max = desc.desc.dims;
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
    registry->getPluginCreatorList(&count);
    return count;
}

template <typename Fn>
Fn symbol(void* handle, char const* name) {
    void* address = dlsym(handle, name);
    Fn function = nullptr;
    std::memcpy(&function, &address, sizeof(function));
    return function;
}

std::vector<char> serialized(nvinfer1::IPluginV2DynamicExt const& plugin) {
    std::vector<char> bytes(plugin.getSerializationSize());
    plugin.serialize(bytes.data());
    return bytes;
}

void check_shapes(nvinfer1::IPluginCreator* creator) {
    Builder builder;
    Env env{{"N", 3}, {"H", 17}, {"W", 10}, {"OH", 68}, {"OW", 40}};
    nvinfer1::DimsExprs const x = dims_exprs({builder.symbol("N"), builder.number(3), builder.symbol("H"),
                                              builder.symbol("W")});

    Fields plain = node_fields();
    PluginPtr plugin = create(creator, plain);
    CHECK(plugin != nullptr);
    if (plugin == nullptr) {
        return;
    }
    // Input 1 as a size carrier: the output takes its last two dims.
    nvinfer1::DimsExprs const carrier =
        dims_exprs({builder.number(1), builder.number(1), builder.symbol("OH"), builder.symbol("OW")});
    nvinfer1::DimsExprs inputs[2] = {x, carrier};
    nvinfer1::DimsExprs out = plugin->getOutputDimensions(0, inputs, 2, builder);
    CHECK((evaluate(out, env) == std::vector<int64_t>{3, 3, 68, 40}));

    // No size at all is refused with a reason (no output dims).
    out = plugin->getOutputDimensions(0, &x, 1, builder);
    CHECK(out.nbDims == 0);

    // sizes: constants.
    Fields with_sizes = node_fields();
    with_sizes.i32("sizes", {9, 8});
    PluginPtr sized = create(creator, with_sizes);
    CHECK(sized != nullptr);
    if (sized != nullptr) {
        out = sized->getOutputDimensions(0, &x, 1, builder);
        CHECK(out.nbDims == 4 && out.d[2]->isConstant() && out.d[2]->getConstantValue() == 9);
        CHECK((evaluate(out, env) == std::vector<int64_t>{3, 3, 9, 8}));
    }

    // scales: floor(in * scale) exactly, in 32-bit arithmetic, for every length evaluated.
    for (float const scale : {0.7f, 2.5f, 1.0f / 3.0f, 1.2345678f, 2.0f}) {
        Fields with_scales = node_fields();
        with_scales.f32("scales", {scale, 2.5f});
        PluginPtr scaled = create(creator, with_scales);
        CHECK(scaled != nullptr);
        if (scaled == nullptr) {
            continue;
        }
        out = scaled->getOutputDimensions(0, &x, 1, builder);
        int mismatches = 0;
        gOverflows = 0;
        std::vector<int64_t> lengths;
        for (int64_t h = 0; h <= 3000; ++h) {
            lengths.push_back(h);
        }
        lengths.push_back((int64_t{1} << 23) - 1);
        for (int64_t h : lengths) {
            Env sized_env = env;
            sized_env["H"] = h;
            sized_env["W"] = h + 1;
            std::vector<int64_t> const got = evaluate(out, sized_env);
            int64_t const want_h = static_cast<int64_t>(std::floor(static_cast<long double>(h) * scale));
            int64_t const want_w = static_cast<int64_t>(std::floor(static_cast<long double>(h + 1) * 2.5f));
            mismatches += got[2] != want_h || got[3] != want_w || got[0] != 3 || got[1] != 3;
        }
        CHECK(mismatches == 0);
        CHECK(gOverflows == 0);
    }
}

void check_build_and_runtime(nvinfer1::IPluginCreator* creator, RecordingLogger& logger) {
    Fields fields = node_fields();
    PluginPtr plugin = create(creator, fields);
    CHECK(plugin != nullptr);
    if (plugin == nullptr) {
        return;
    }
    CHECK(std::strcmp(plugin->getPluginType(), "DynamicTRTResize") == 0);
    CHECK(std::strcmp(plugin->getPluginVersion(), "1") == 0);
    CHECK(plugin->getNbOutputs() == 1);
    CHECK(plugin->initialize() == 0);

    // Output type follows the input.
    for (DataType type : {DataType::kFLOAT, DataType::kHALF}) {
        DataType inputs[2] = {type, DataType::kINT32};
        CHECK(plugin->getOutputDataType(0, inputs, 2) == type);
    }

    // Formats: linear only; the output matches input 0; the size carrier may be anything linear.
    nvinfer1::PluginTensorDesc io[3] = {tensor_desc({1, 3, 4, 5}, DataType::kHALF),
                                        tensor_desc({1, 1, 8, 10}, DataType::kINT32),
                                        tensor_desc({1, 3, 8, 10}, DataType::kHALF)};
    CHECK(plugin->supportsFormatCombination(0, io, 2, 1));
    CHECK(plugin->supportsFormatCombination(1, io, 2, 1));
    CHECK(plugin->supportsFormatCombination(2, io, 2, 1));
    io[2].type = DataType::kFLOAT;
    CHECK(!plugin->supportsFormatCombination(2, io, 2, 1));
    io[0].type = DataType::kINT8;
    CHECK(!plugin->supportsFormatCombination(0, io, 2, 1));
    io[0] = tensor_desc({1, 3, 4, 5}, DataType::kFLOAT, nvinfer1::TensorFormat::kCHW32);
    CHECK(!plugin->supportsFormatCombination(0, io, 2, 1));
    CHECK(!plugin->supportsFormatCombination(3, io, 2, 1));

    nvinfer1::DynamicPluginTensorDesc in[2] = {dynamic_desc({2, 3, 7, 11}, DataType::kFLOAT),
                                               dynamic_desc({1, 1, 14, 22}, DataType::kFLOAT)};
    nvinfer1::DynamicPluginTensorDesc outDesc = dynamic_desc({2, 3, 14, 22}, DataType::kFLOAT);
    logger.messages.clear();
    plugin->configurePlugin(in, 2, &outDesc, 1);
    CHECK(logger.messages.empty());
    nvinfer1::DynamicPluginTensorDesc const wrongType = dynamic_desc({2, 3, 14, 22}, DataType::kHALF);
    plugin->configurePlugin(in, 2, &wrongType, 1);
    CHECK(logger.saw("must both be FP32"));
    CHECK(plugin->getWorkspaceSize(&in[0].desc, 2, &outDesc.desc, 1) == 0);

    // Runtime: wrong output dims are refused by enqueue; an empty batch enqueues nothing and succeeds.
    nvinfer1::PluginTensorDesc badOut = tensor_desc({2, 4, 14, 22}, DataType::kFLOAT);
    void const* inputs[2] = {nullptr, nullptr};
    void* outputs[1] = {nullptr};
    logger.messages.clear();
    CHECK(plugin->enqueue(&in[0].desc, &badOut, inputs, outputs, nullptr, nullptr) != 0);
    CHECK(logger.saw("only H and W"));
    nvinfer1::PluginTensorDesc emptyIn = tensor_desc({0, 3, 7, 11}, DataType::kFLOAT);
    nvinfer1::PluginTensorDesc emptyOut = tensor_desc({0, 3, 14, 22}, DataType::kFLOAT);
    CHECK(plugin->enqueue(&emptyIn, &emptyOut, inputs, outputs, nullptr, nullptr) == 0);

    // Serialization: deserializePlugin rebuilds a plugin that serializes to the same bytes.
    Fields rich = node_fields();
    rich.f32("scales", {0.7f, 2.0f}).i32("exclude_outside", {1});
    PluginPtr original = create(creator, rich);
    CHECK(original == nullptr);  // exclude_outside given twice is refused
    Fields rich2;
    rich2.str("coordinate_transformation_mode", "asymmetric").f32("scales", {0.7f, 2.0f}).i32("antialias", {1});
    original = create(creator, rich2);
    CHECK(original != nullptr);
    if (original != nullptr) {
        std::vector<char> const bytes = serialized(*original);
        PluginPtr restored(static_cast<nvinfer1::IPluginV2DynamicExt*>(
            creator->deserializePlugin("resize", bytes.data(), bytes.size())));
        CHECK(restored != nullptr);
        if (restored != nullptr) {
            CHECK(serialized(*restored) == bytes);
            CHECK(serialized(*restored) != serialized(*plugin));
        }
        logger.messages.clear();
        CHECK(creator->deserializePlugin("cut", bytes.data(), bytes.size() / 2) == nullptr);
        CHECK(logger.saw("truncated") && logger.saw("cut"));
    }

    // clone keeps the config and the namespace.
    plugin->setPluginNamespace("ns");
    PluginPtr clone(plugin->clone());
    CHECK(clone != nullptr && clone.get() != plugin.get());
    if (clone != nullptr) {
        CHECK(serialized(*clone) == serialized(*plugin));
        CHECK(std::strcmp(clone->getPluginNamespace(), "ns") == 0);
    }
    plugin->terminate();

    // A shape input is a TensorRT 10.1 feature: refused with the reason.
    Fields shape_input = node_fields();
    shape_input.i32("tensorrt_plugin_shape_input_indices", {1});
    logger.messages.clear();
    CHECK(create(creator, shape_input) == nullptr);
    CHECK(logger.saw("10.1"));
}

nvinfer1::IPluginRegistry* registry_of(void* nvinfer) {
    auto get_registry = symbol<nvinfer1::IPluginRegistry* (*)() noexcept>(nvinfer, "getPluginRegistry");
    return get_registry();
}

RecordingLogger* logger_of(void* nvinfer) {
    auto get_logger = symbol<nvinfer1::ILogger* (*)() noexcept>(nvinfer, "getLogger");
    return static_cast<RecordingLogger*>(get_logger());
}

}  // namespace

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
    nvinfer1::IPluginRegistry* registry = registry_of(nvinfer);
    CHECK(count_creators(registry) == 1);
    CHECK(registry->getPluginCreator("DynamicTRTResize", "1", "") != nullptr);
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
    void* nvinfer = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
    if (nvinfer == nullptr) {
        std::printf("cannot load %s: %s\n", argv[1], dlerror());
        return 2;
    }
    CHECK(dlsym(RTLD_DEFAULT, "getPluginRegistry") == nullptr);
    nvinfer1::IPluginRegistry* registry = registry_of(nvinfer);
    RecordingLogger& logger = *logger_of(nvinfer);
    CHECK(count_creators(registry) == 0);

    void* library = dlopen(argv[2], RTLD_NOW | RTLD_LOCAL);
    if (library == nullptr) {
        std::printf("cannot load %s: %s\n", argv[2], dlerror());
        return 2;
    }
    // Registered while loading (ctypes.CDLL, trtexec --plugins, polygraphy LoadPlugins).
    CHECK(count_creators(registry) == 1);
    nvinfer1::IPluginCreator* creator = registry->getPluginCreator("DynamicTRTResize", "1", "");
    CHECK(creator != nullptr);
    if (creator == nullptr) {
        std::printf("%d checks, %d failed\n", gChecks, gFailures + 1);
        return 1;
    }
    CHECK(std::strcmp(creator->getPluginNamespace(), "") == 0);

    auto register_plugins = symbol<int32_t (*)()>(library, "trtconvert_register_plugins");
    auto get_creators = symbol<nvinfer1::IPluginCreator* const* (*)(int32_t&)>(library, "getPluginCreators");
    CHECK(register_plugins != nullptr && get_creators != nullptr);
    CHECK(dlsym(library, "getCreators") == nullptr);  // the IPluginV3 entry point belongs to 10+ builds
    if (register_plugins == nullptr || get_creators == nullptr) {
        std::printf("%d checks, %d failed\n", gChecks, gFailures);
        return 1;
    }
    CHECK(register_plugins() == 1);  // idempotent
    auto compiled_version = symbol<int32_t (*)()>(library, "trtconvert_plugins_tensorrt_version");
    CHECK(compiled_version != nullptr &&
          compiled_version() == NV_TENSORRT_MAJOR * 10000 + NV_TENSORRT_MINOR * 100 + NV_TENSORRT_PATCH);
    CHECK(count_creators(registry) == 1);

    std::vector<std::string> const names = field_names(creator->getFieldNames());
    for (char const* name : {"coordinate_transformation_mode", "cubic_coeff_a", "exclude_outside", "antialias",
                             "scales", "sizes", "tensorrt_plugin_shape_input_indices", "align_corners"}) {
        CHECK(contains(names, name));
    }

    // A bad attribute: no plugin, and the reason reaches TensorRT's logger.
    Fields bad = node_fields();
    bad.i32("cubic_coeff", {1});
    CHECK(creator->createPlugin("bad_resize", bad.collection()) == nullptr);
    CHECK(logger.saw("cubic_coeff") && logger.saw("bad_resize"));

    check_shapes(creator);
    check_build_and_runtime(creator, logger);

    // loadLibrary's view (8.6+): getPluginCreators withdraws the load-time registration so that TensorRT can
    // register the same creators itself, and later calls do not register them again behind its back.
    int32_t count = 0;
    nvinfer1::IPluginCreator* const* creators = get_creators(count);
    CHECK(count == 1 && creators != nullptr && creators[0] == creator);
    CHECK(count_creators(registry) == 0);
    CHECK(registry->registerCreator(*creators[0], ""));
    CHECK(register_plugins() == 1);
    CHECK(count_creators(registry) == 1);
    CHECK(registry->deregisterCreator(*creators[0]));

    std::printf("%d checks, %d failed\n", gChecks, gFailures);
    return gFailures == 0 ? 0 : 1;
}
