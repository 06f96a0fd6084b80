// Runs DynamicTRTResize's enqueue on a GPU without TensorRT, for tests that compare it with the float64 reference:
//
//   plugin_enqueue_probe STAND_IN_LIBNVINFER LIBTRTCONVERT_PLUGINS DTYPE IN.bin OUT.bin DIMS OUT_H OUT_W
//                        [carrier] [FIELD=VALUE ...]
//
// DTYPE is f32, f16 or bf16; IN.bin holds the input as float32 values already representable in DTYPE; DIMS is the
// input shape (e.g. 2,3,17,10). The plugin comes from the creator the library registered in the stand-in registry,
// with FIELD=VALUE pairs as the ONNX parser would pass them (coordinate_transformation_mode=..., cubic_coeff_a=...,
// exclude_outside=..., antialias=..., scales=h,w, sizes=h,w). `carrier` adds a second input of shape
// [1, 1, OUT_H, OUT_W]. The output, converted to float32, goes to OUT.bin. Exit status 0 on success.
#include <cuda_runtime_api.h>
#include <dlfcn.h>

#include <cstdio>
#include <cstring>
#include <deque>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include <NvInferRuntime.h>

namespace {

uint16_t to_half(float value) {
    uint32_t bits = 0;
    std::memcpy(&bits, &value, sizeof(bits));
    uint32_t const sign = (bits >> 16) & 0x8000u;
    int32_t const exponent = static_cast<int32_t>((bits >> 23) & 0xFFu) - 127 + 15;
    uint32_t mantissa = bits & 0x7FFFFFu;
    if (exponent <= 0) {  // subnormal half (inputs are exact, so no rounding is needed here)
        if (exponent < -10) {
            return static_cast<uint16_t>(sign);
        }
        mantissa |= 0x800000u;
        return static_cast<uint16_t>(sign | (mantissa >> (14 - exponent)));
    }
    if (exponent >= 31) {
        return static_cast<uint16_t>(sign | 0x7C00u);
    }
    return static_cast<uint16_t>(sign | (static_cast<uint32_t>(exponent) << 10) | (mantissa >> 13));
}

float from_half(uint16_t half) {
    uint32_t const sign = (half & 0x8000u) << 16;
    uint32_t exponent = (half >> 10) & 0x1Fu;
    uint32_t mantissa = half & 0x3FFu;
    uint32_t bits = 0;
    if (exponent == 0) {
        if (mantissa == 0) {
            bits = sign;
        } else {
            exponent = 1;
            while ((mantissa & 0x400u) == 0) {
                mantissa <<= 1;
                --exponent;
            }
            mantissa &= 0x3FFu;
            bits = sign | ((exponent + 127 - 15) << 23) | (mantissa << 13);
        }
    } else if (exponent == 31) {
        bits = sign | 0x7F800000u | (mantissa << 13);
    } else {
        bits = sign | ((exponent + 127 - 15) << 23) | (mantissa << 13);
    }
    float value = 0.0f;
    std::memcpy(&value, &bits, sizeof(value));
    return value;
}

uint16_t to_bf16(float value) {  // exact for inputs already representable in bfloat16
    uint32_t bits = 0;
    std::memcpy(&bits, &value, sizeof(bits));
    return static_cast<uint16_t>(bits >> 16);
}

float from_bf16(uint16_t value) {
    uint32_t const bits = static_cast<uint32_t>(value) << 16;
    float result = 0.0f;
    std::memcpy(&result, &bits, sizeof(result));
    return result;
}

std::vector<int64_t> parse_dims(std::string const& text) {
    std::vector<int64_t> dims;
    std::stringstream stream(text);
    std::string item;
    while (std::getline(stream, item, ',')) {
        dims.push_back(std::stoll(item));
    }
    return dims;
}

nvinfer1::PluginTensorDesc desc(std::vector<int64_t> const& dims, nvinfer1::DataType type) {
    nvinfer1::PluginTensorDesc result{};
    result.dims.nbDims = static_cast<int32_t>(dims.size());
    for (size_t i = 0; i < dims.size(); ++i) {
        result.dims.d[i] = dims[i];
    }
    result.type = type;
    result.format = nvinfer1::TensorFormat::kLINEAR;
    result.scale = -1.0f;
    return result;
}

int fail(char const* what, char const* detail = "") {
    std::fprintf(stderr, "plugin_enqueue_probe: %s%s\n", what, detail);
    return 1;
}

#define CUDA_OK(call)                                                     \
    do {                                                                  \
        cudaError_t const status = (call);                                \
        if (status != cudaSuccess) {                                      \
            return fail(#call ": ", cudaGetErrorString(status));          \
        }                                                                 \
    } while (0)

}  // namespace

int main(int argc, char** argv) {
    if (argc < 9) {
        return fail("usage: STAND_IN PLUGIN DTYPE IN.bin OUT.bin DIMS OUT_H OUT_W [carrier] [FIELD=VALUE ...]");
    }
    std::string const dtype = argv[3];
    nvinfer1::DataType const type = dtype == "f16"    ? nvinfer1::DataType::kHALF
                                    : dtype == "bf16" ? nvinfer1::DataType::kBF16
                                                      : nvinfer1::DataType::kFLOAT;
    size_t const element = type == nvinfer1::DataType::kFLOAT ? 4 : 2;
    std::vector<int64_t> const in_dims = parse_dims(argv[6]);
    std::vector<int64_t> out_dims = in_dims;
    out_dims[out_dims.size() - 2] = std::stoll(argv[7]);
    out_dims[out_dims.size() - 1] = std::stoll(argv[8]);

    bool carrier = false;
    std::vector<nvinfer1::PluginField> fields;
    std::deque<std::string> strings;
    std::deque<std::vector<int32_t>> ints;
    std::deque<std::vector<float>> floats;
    for (int i = 9; i < argc; ++i) {
        std::string const arg = argv[i];
        if (arg == "carrier") {
            carrier = true;
            continue;
        }
        size_t const equals = arg.find('=');
        if (equals == std::string::npos) {
            return fail("expected FIELD=VALUE, got ", argv[i]);
        }
        strings.push_back(arg.substr(0, equals));
        char const* name = strings.back().c_str();
        std::string const value = arg.substr(equals + 1);
        if (strings.back() == "coordinate_transformation_mode") {
            strings.push_back(value);
            fields.emplace_back(name, strings.back().c_str(), nvinfer1::PluginFieldType::kCHAR,
                                static_cast<int32_t>(value.size() + 1));
        } else if (strings.back() == "cubic_coeff_a" || strings.back() == "scales") {
            floats.emplace_back();
            std::stringstream stream(value);
            std::string item;
            while (std::getline(stream, item, ',')) {
                floats.back().push_back(std::stof(item));
            }
            fields.emplace_back(name, floats.back().data(), nvinfer1::PluginFieldType::kFLOAT32,
                                static_cast<int32_t>(floats.back().size()));
        } else {
            ints.emplace_back();
            for (int64_t v : parse_dims(value)) {
                ints.back().push_back(static_cast<int32_t>(v));
            }
            fields.emplace_back(name, ints.back().data(), nvinfer1::PluginFieldType::kINT32,
                                static_cast<int32_t>(ints.back().size()));
        }
    }

    void* nvinfer = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
    if (nvinfer == nullptr) {
        return fail("cannot load the stand-in registry: ", dlerror());
    }
    if (dlopen(argv[2], RTLD_NOW | RTLD_LOCAL) == nullptr) {
        return fail("cannot load the plugin library: ", dlerror());
    }
    void* address = dlsym(nvinfer, "getPluginRegistry");
    nvinfer1::IPluginRegistry* (*get_registry)() noexcept = nullptr;
    std::memcpy(&get_registry, &address, sizeof(get_registry));
    auto* creator = static_cast<nvinfer1::IPluginCreatorV3One*>(get_registry()->getCreator("DynamicTRTResize", "1", ""));
    if (creator == nullptr) {
        return fail("the library registered no DynamicTRTResize creator");
    }
    nvinfer1::PluginFieldCollection collection{static_cast<int32_t>(fields.size()), fields.data()};
    std::unique_ptr<nvinfer1::IPluginV3> plugin(
        creator->createPlugin("probe", &collection, nvinfer1::TensorRTPhase::kRUNTIME));
    if (plugin == nullptr) {
        return fail("createPlugin refused the fields");
    }
    auto* runtime = static_cast<nvinfer1::IPluginV3OneRuntime*>(
        plugin->getCapabilityInterface(nvinfer1::PluginCapabilityType::kRUNTIME));

    size_t in_count = 1;
    for (int64_t d : in_dims) {
        in_count *= static_cast<size_t>(d);
    }
    size_t out_count = 1;
    for (int64_t d : out_dims) {
        out_count *= static_cast<size_t>(d);
    }
    std::vector<float> input(in_count);
    std::ifstream in_file(argv[4], std::ios::binary);
    in_file.read(reinterpret_cast<char*>(input.data()), static_cast<std::streamsize>(in_count * sizeof(float)));
    if (!in_file) {
        return fail("cannot read ", argv[4]);
    }
    std::vector<uint8_t> host_in(in_count * element);
    for (size_t i = 0; i < in_count; ++i) {
        if (type == nvinfer1::DataType::kFLOAT) {
            std::memcpy(&host_in[i * 4], &input[i], 4);
        } else {
            uint16_t const low = type == nvinfer1::DataType::kHALF ? to_half(input[i]) : to_bf16(input[i]);
            std::memcpy(&host_in[i * 2], &low, 2);
        }
    }

    void* device_in = nullptr;
    void* device_out = nullptr;
    cudaStream_t stream = nullptr;
    CUDA_OK(cudaMalloc(&device_in, host_in.size() + 1));
    CUDA_OK(cudaMalloc(&device_out, out_count * element + 1));
    CUDA_OK(cudaStreamCreate(&stream));
    CUDA_OK(cudaMemcpy(device_in, host_in.data(), host_in.size(), cudaMemcpyHostToDevice));
    // A poisoned output: every element the plugin leaves unwritten shows up as a NaN.
    CUDA_OK(cudaMemset(device_out, 0xFF, out_count * element));

    std::vector<int64_t> const carrier_dims = {1, 1, out_dims[out_dims.size() - 2], out_dims[out_dims.size() - 1]};
    nvinfer1::PluginTensorDesc const in_desc[2] = {desc(in_dims, type), desc(carrier_dims, nvinfer1::DataType::kFLOAT)};
    nvinfer1::PluginTensorDesc const out_desc = desc(out_dims, type);
    int32_t const nb_inputs = carrier ? 2 : 1;
    if (runtime->onShapeChange(in_desc, nb_inputs, &out_desc, 1) != 0) {
        return fail("onShapeChange refused the shapes");
    }
    void const* inputs[2] = {device_in, nullptr};
    void* outputs[1] = {device_out};
    if (runtime->enqueue(in_desc, &out_desc, inputs, outputs, nullptr, stream) != 0) {
        return fail("enqueue failed");
    }
    CUDA_OK(cudaStreamSynchronize(stream));

    std::vector<uint8_t> host_out(out_count * element);
    CUDA_OK(cudaMemcpy(host_out.data(), device_out, host_out.size(), cudaMemcpyDeviceToHost));
    std::vector<float> output(out_count);
    for (size_t i = 0; i < out_count; ++i) {
        if (type == nvinfer1::DataType::kFLOAT) {
            std::memcpy(&output[i], &host_out[i * 4], 4);
        } else {
            uint16_t low = 0;
            std::memcpy(&low, &host_out[i * 2], 2);
            output[i] = type == nvinfer1::DataType::kHALF ? from_half(low) : from_bf16(low);
        }
    }
    std::ofstream out_file(argv[5], std::ios::binary);
    out_file.write(reinterpret_cast<char const*>(output.data()), static_cast<std::streamsize>(out_count * sizeof(float)));
    cudaFree(device_in);
    cudaFree(device_out);
    cudaStreamDestroy(stream);
    return out_file ? 0 : fail("cannot write ", argv[5]);
}
