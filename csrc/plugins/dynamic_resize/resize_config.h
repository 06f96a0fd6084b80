// DynamicTRTResize logic that needs neither TensorRT nor CUDA: attribute parsing and validation, the choice of
// output-size source, output-size arithmetic, kernel launch geometry and field (de)serialization.
//
// The TensorRT wrapper (dynamic_resize_plugin.cpp) only translates between these types and TensorRT's, so
// everything that can be wrong about the node's meaning is unit-tested by tests/test_resize_config.cpp with a
// plain C++ compiler.
#ifndef TRTCONVERT_PLUGINS_DYNAMIC_RESIZE_RESIZE_CONFIG_H
#define TRTCONVERT_PLUGINS_DYNAMIC_RESIZE_RESIZE_CONFIG_H

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace trtconvert {
namespace resize {

constexpr char const* kPluginName = "DynamicTRTResize";
constexpr char const* kPluginVersion = "1";
constexpr char const* kPluginNamespace = "";

// Numeric values are nvinfer1::PluginFieldType's; the plugin static_asserts that they agree.
enum class FieldType : int32_t {
    kFLOAT16 = 0,
    kFLOAT32 = 1,
    kFLOAT64 = 2,
    kINT8 = 3,
    kINT16 = 4,
    kINT32 = 5,
    kCHAR = 6,
    kDIMS = 7,
    kUNKNOWN = 8,
    kBF16 = 9,
    kINT64 = 10,
};

// A TensorRT PluginField without TensorRT: `length` counts elements (bytes for kCHAR, which the ONNX parser
// NUL-terminates and counts the terminator).
struct FieldView {
    char const* name;
    void const* data;
    FieldType type;
    int32_t length;
};

// Values are TrtcCoordinateMode's in csrc/kernels/cubic_resize.h; the plugin static_asserts that they agree.
enum class CoordinateMode : int32_t {
    kHALF_PIXEL = 0,
    kPYTORCH_HALF_PIXEL = 1,
    kALIGN_CORNERS = 2,
    kASYMMETRIC = 3,
    kHALF_PIXEL_SYMMETRIC = 4,
    kTF_HALF_PIXEL_FOR_NN = 5,
};

char const* coordinate_mode_name(CoordinateMode mode);

// What the node's attributes say (the node contract is written down in trtconvert/prepare/rewrite/rules/cubic_resize.py).
// `sizes` and `scales` are empty or hold [height, width].
struct ResizeConfig {
    CoordinateMode mode = CoordinateMode::kHALF_PIXEL;
    float cubic_coeff_a = -0.75f;
    int32_t exclude_outside = 0;
    int32_t antialias = 0;
    std::vector<int64_t> sizes;
    std::vector<float> scales;
    std::vector<int64_t> shape_input_indices;

    bool operator==(ResizeConfig const& other) const;
    bool operator!=(ResizeConfig const& other) const { return !(*this == other); }
};

// Parses build-phase attributes (as the ONNX parser hands them over) or runtime-phase serialized fields; both use
// the same names. Returns an empty string on success, otherwise a one-line message naming the field and the fix.
std::string parse_fields(FieldView const* fields, int32_t count, ResizeConfig* config);

// The fields the creator advertises through getFieldNames (data is null, length is 1 for scalars, 0 for lists).
FieldView const* advertised_fields(int32_t* count);

// A canonical field list for getFieldsToSerialize, owning its storage; parse_fields() of it gives the config back.
class SerializedFields {
public:
    explicit SerializedFields(ResizeConfig const& config);
    SerializedFields(SerializedFields const&) = delete;
    SerializedFields& operator=(SerializedFields const&) = delete;

    FieldView const* data() const { return mFields.data(); }
    int32_t size() const { return static_cast<int32_t>(mFields.size()); }

private:
    std::string mMode;
    float mCoeff;
    int32_t mExcludeOutside;
    int32_t mAntialias;
    std::vector<int64_t> mSizes;
    std::vector<float> mScales;
    std::vector<int64_t> mShapeInputIndices;
    std::vector<FieldView> mFields;
};

// The config as bytes, for plugin interfaces that serialize into a buffer (IPluginV2: TensorRT before 10). The
// bytes hold the fields of SerializedFields (names, types, values), so reading them back goes through
// parse_fields like every other way in.
std::vector<char> serialize_config(ResizeConfig const& config);

// Reads what serialize_config wrote; "" on success, else a one-line message (a truncated or foreign buffer is
// refused, never read past its end).
std::string deserialize_config(void const* data, size_t length, ResizeConfig* config);

// One-line description of the config, for getMetadataString and error messages.
std::string describe(ResizeConfig const& config);

// Where the output height and width come from, first that applies: input 1 (a size carrier, whose last two dims
// are H and W, or a shape input holding [H, W]), then the sizes attribute, then the scales attribute.
enum class SizeSource : int32_t {
    kCARRIER = 0,
    kSHAPE_INPUT = 1,
    kSIZES = 2,
    kSCALES = 3,
};

// A float32 scale as the exact fraction it denotes (mantissa / 2^k), so that floor(in * scale) is an integer
// expression TensorRT can evaluate for any input length, with ONNX's exact arithmetic. (onnxruntime multiplies
// in float32 and can round up across an integer: 10 * 0.7f gives 7 there, 6 here.)
struct Ratio {
    int64_t num;
    int64_t den;
};

// False for scales that are not finite or lie outside [2^-16, 2^16].
bool scale_to_ratio(float scale, Ratio* ratio);

// floor(in * num / den) for 0 <= in < 2^31.
int64_t scaled_length(int64_t in, Ratio ratio);

// floor(in * num / den) in steps that stay inside 32-bit integers for in < 2^23, for shape arithmetic with 32-bit
// values (TensorRT before 10): in * whole + carry, where carry runs over the fraction's base-256 digits, lowest
// first: carry = (in * digit + carry) / 256. (num / den = whole + sum(digit[j] * 256^(j - n)), exactly.)
struct ScaledLengthSteps {
    int64_t whole = 0;
    std::vector<int32_t> fraction_digits;
};

ScaledLengthSteps scaled_length_steps(Ratio ratio);

// The steps evaluated in integers: equals scaled_length(in, ratio) for 0 <= in < 2^31.
int64_t apply_steps(int64_t in, ScaledLengthSteps const& steps);

// How the output shape is formed for one layer configuration.
struct OutputPlan {
    SizeSource source = SizeSource::kSIZES;
    int64_t sizes_hw[2] = {0, 0};           // kSIZES
    Ratio ratios_hw[2] = {{1, 1}, {1, 1}};  // kSCALES
};

// Decides the size source from the layer's regular and shape inputs and the attributes. `rank` is the rank of
// input 0, `carrier_rank` the rank of input 1 (ignored without one), `shape_values` the number of values of the
// shape input (ignored without one). Returns "" on success or a one-line message.
std::string plan_output(ResizeConfig const& config, int32_t nb_inputs, int32_t nb_shape_inputs, int32_t rank,
                        int32_t carrier_rank, int32_t shape_values, OutputPlan* plan);

// Output dims for concrete input dims: what the plugin's shape expressions evaluate to. `input` has `rank`
// entries; `carrier` (kCARRIER, `carrier_rank` dims) and `shape` (kSHAPE_INPUT, 2 values) are read as the plan
// says.
std::string output_dims(OutputPlan const& plan, int64_t const* input, int32_t rank, int64_t const* carrier,
                        int32_t carrier_rank, int64_t const* shape, std::vector<int64_t>* out);

// The arguments of one kernel launch, from concrete input and output dims.
struct LaunchGeometry {
    int64_t planes = 0;
    int64_t in_h = 0;
    int64_t in_w = 0;
    int64_t out_h = 0;
    int64_t out_w = 0;
    float scale_h = 0.0f;  // <= 0: the kernel uses out / in
    float scale_w = 0.0f;
    bool empty() const { return planes == 0 || out_h == 0 || out_w == 0; }
};

std::string launch_geometry(ResizeConfig const& config, int64_t const* in_dims, int32_t in_rank,
                            int64_t const* out_dims, int32_t out_rank, LaunchGeometry* geometry);

}  // namespace resize
}  // namespace trtconvert

#endif  // TRTCONVERT_PLUGINS_DYNAMIC_RESIZE_RESIZE_CONFIG_H
