// Unit tests of DynamicTRTResize's TensorRT-free logic. Plain C++17, no TensorRT, no CUDA, no test framework:
//   cd csrc/plugins/dynamic_resize
//   c++ -std=c++17 -I . resize_config.cpp tests/test_resize_config.cpp -o /tmp/t && /tmp/t
// Exit status 0 when every check passes; each failure prints its line.
#include <cmath>
#include <cstdio>
#include <cstring>
#include <deque>
#include <limits>
#include <set>
#include <string>
#include <vector>

#include "../../tests/check.h"
#include "resize_config.h"

using namespace trtconvert::resize;

namespace {

#define CHECK_OK(error_expression)                                                          \
    do {                                                                                    \
        ++gChecks;                                                                          \
        std::string const error_text = (error_expression);                                  \
        if (!error_text.empty()) {                                                          \
            ++gFailures;                                                                    \
            std::printf("%s:%d: unexpected error: %s\n", __FILE__, __LINE__, error_text.c_str()); \
        }                                                                                   \
    } while (0)

// The error must be reported and must mention `needle` (so that the message names the problem).
#define CHECK_ERROR(error_expression, needle)                                                           \
    do {                                                                                                \
        ++gChecks;                                                                                      \
        std::string const error_text = (error_expression);                                              \
        if (error_text.empty() || error_text.find(needle) == std::string::npos) {                       \
            ++gFailures;                                                                                \
            std::printf("%s:%d: expected an error mentioning '%s', got '%s'\n", __FILE__, __LINE__, needle, \
                        error_text.c_str());                                                            \
        }                                                                                               \
    } while (0)

// Builds fields the way TensorRT's ONNX parser does: INT -> one int32, FLOAT -> one float32,
// STRING -> NUL-terminated chars counting the NUL, INTS/FLOATS -> arrays. Owns the storage; deques keep element
// addresses stable as fields are added.
class Fields {
public:
    Fields& str(char const* name, std::string const& value, bool count_nul = true) {
        mStrings.push_back(value);
        std::string const& stored = mStrings.back();
        mViews.push_back({name, stored.c_str(), FieldType::kCHAR,
                          static_cast<int32_t>(stored.size() + (count_nul ? 1 : 0))});
        return *this;
    }
    Fields& i32(char const* name, std::vector<int32_t> values) {
        mInts.push_back(std::move(values));
        mViews.push_back({name, mInts.back().data(), FieldType::kINT32, static_cast<int32_t>(mInts.back().size())});
        return *this;
    }
    Fields& i64(char const* name, std::vector<int64_t> values) {
        mLongs.push_back(std::move(values));
        mViews.push_back({name, mLongs.back().data(), FieldType::kINT64, static_cast<int32_t>(mLongs.back().size())});
        return *this;
    }
    Fields& f32(char const* name, std::vector<float> values) {
        mFloats.push_back(std::move(values));
        mViews.push_back(
            {name, mFloats.back().data(), FieldType::kFLOAT32, static_cast<int32_t>(mFloats.back().size())});
        return *this;
    }
    std::string parse(ResizeConfig* config) const {
        return parse_fields(mViews.data(), static_cast<int32_t>(mViews.size()), config);
    }

private:
    std::vector<FieldView> mViews;
    std::deque<std::string> mStrings;
    std::deque<std::vector<int32_t>> mInts;
    std::deque<std::vector<int64_t>> mLongs;
    std::deque<std::vector<float>> mFloats;
};

std::string parse(Fields const& fields) {
    ResizeConfig config;
    return fields.parse(&config);
}

void test_defaults() {
    ResizeConfig config;
    config.mode = CoordinateMode::kASYMMETRIC;  // must be overwritten by parsing nothing
    CHECK_OK(parse_fields(nullptr, 0, &config));
    CHECK(config == ResizeConfig());
    CHECK(config.mode == CoordinateMode::kHALF_PIXEL);
    CHECK(config.cubic_coeff_a == -0.75f);
    CHECK(config.exclude_outside == 0 && config.antialias == 0);
}

void test_node_attributes() {
    ResizeConfig config;
    CHECK_OK(Fields()
                 .str("coordinate_transformation_mode", "pytorch_half_pixel")
                 .f32("cubic_coeff_a", {-0.5f})
                 .i32("exclude_outside", {1})
                 .i32("antialias", {1})
                 .str("plugin_version", "1")
                 .str("plugin_namespace", "")
                 .parse(&config));
    CHECK(config.mode == CoordinateMode::kPYTORCH_HALF_PIXEL);
    CHECK(config.cubic_coeff_a == -0.5f);
    CHECK(config.exclude_outside == 1);
    CHECK(config.antialias == 1);

    // Every mode name maps to the kernel's code, with or without a counted terminator.
    char const* names[] = {"half_pixel", "pytorch_half_pixel", "align_corners", "asymmetric", "half_pixel_symmetric",
                           "tf_half_pixel_for_nn"};
    for (int32_t code = 0; code < 6; ++code) {
        for (bool count_nul : {true, false}) {
            ResizeConfig parsed;
            CHECK_OK(Fields().str("coordinate_transformation_mode", names[code], count_nul).parse(&parsed));
            CHECK(static_cast<int32_t>(parsed.mode) == code);
            CHECK(std::string(coordinate_mode_name(parsed.mode)) == names[code]);
        }
    }

    // 64-bit integers (Python callers building fields by hand) are accepted like INT attributes.
    CHECK_OK(Fields().i64("exclude_outside", {1}).i64("sizes", {32, 48}).parse(&config));
    CHECK(config.exclude_outside == 1);
    CHECK((config.sizes == std::vector<int64_t>{32, 48}));
}

void test_align_corners_alias() {
    ResizeConfig config;
    CHECK_OK(Fields().i32("align_corners", {1}).parse(&config));
    CHECK(config.mode == CoordinateMode::kALIGN_CORNERS);
    CHECK_OK(Fields().i32("align_corners", {0}).parse(&config));
    CHECK(config.mode == CoordinateMode::kPYTORCH_HALF_PIXEL);
    // The contract: align_corners is read only when coordinate_transformation_mode is absent.
    CHECK_OK(Fields().i32("align_corners", {0}).str("coordinate_transformation_mode", "half_pixel").parse(&config));
    CHECK(config.mode == CoordinateMode::kHALF_PIXEL);
    CHECK_OK(Fields().str("coordinate_transformation_mode", "asymmetric").i32("align_corners", {1}).parse(&config));
    CHECK(config.mode == CoordinateMode::kASYMMETRIC);
    CHECK_ERROR(parse(Fields().i32("align_corners", {2})), "align_corners");
}

void test_invalid_attributes() {
    CHECK_ERROR(parse(Fields().str("coordinate_transformation_mode", "tf_crop_and_resize")), "tf_crop_and_resize");
    CHECK_ERROR(parse(Fields().str("coordinate_transformation_mode", "")), "unsupported value");
    CHECK_ERROR(parse(Fields().i32("exclude_outside", {2})), "exclude_outside");
    CHECK_ERROR(parse(Fields().i32("antialias", {-1})), "antialias");
    CHECK_ERROR(parse(Fields().i32("antialias", {1, 0})), "expected one integer");
    CHECK_ERROR(parse(Fields().f32("exclude_outside", {1.0f})), "expected integers");
    CHECK_ERROR(parse(Fields().i32("cubic_coeff_a", {-1})), "expected floats");
    CHECK_ERROR(parse(Fields().f32("cubic_coeff_a", {std::nanf("")})), "finite");
    CHECK_ERROR(parse(Fields().f32("cubic_coeff_a", {std::numeric_limits<float>::infinity()})), "finite");
    CHECK_ERROR(parse(Fields().i32("coordinate_transformation_mode", {0})), "expected a string");
    CHECK_ERROR(parse(Fields().str("mode", "cubic")), "unknown field");
    CHECK_ERROR(parse(Fields().i32("cubic_coeff", {1})), "unknown field");
    CHECK_ERROR(parse(Fields().i32("antialias", {0}).i32("antialias", {0})), "given twice");
    CHECK_ERROR(parse(Fields().i32("sizes", {0, 48})), "at least 1");
    CHECK_ERROR(parse(Fields().i32("sizes", {48})), "2 values");
    CHECK_ERROR(parse(Fields().i32("sizes", {1, 3, 32, 48})), "2 values");
    CHECK_ERROR(parse(Fields().f32("scales", {2.0f})), "2 values");
    CHECK_ERROR(parse(Fields().f32("scales", {1.0f, 1.0f, 2.0f, 2.0f})), "2 values");
    CHECK_ERROR(parse(Fields().f32("scales", {0.0f, 2.0f})), "scale");
    CHECK_ERROR(parse(Fields().f32("scales", {-2.0f, 2.0f})), "scale");
    CHECK_ERROR(parse(Fields().f32("scales", {std::numeric_limits<float>::infinity(), 2.0f})), "scale");
    CHECK_ERROR(parse(Fields().f32("scales", {1e-9f, 2.0f})), "scale");
    CHECK_ERROR(parse(Fields().i32("tensorrt_plugin_shape_input_indices", {0})), "shape input");
    CHECK_ERROR(parse(Fields().i32("tensorrt_plugin_shape_input_indices", {2})), "shape input");

    FieldView nameless{nullptr, nullptr, FieldType::kINT32, 0};
    ResizeConfig config;
    CHECK_ERROR(parse_fields(&nameless, 1, &config), "no name");
    FieldView dataless{"antialias", nullptr, FieldType::kINT32, 1};
    CHECK_ERROR(parse_fields(&dataless, 1, &config), "no data");
    CHECK_ERROR(parse_fields(nullptr, 1, &config), "no field collection");

    // A failed parse leaves the output untouched.
    config = ResizeConfig();
    config.antialias = 1;
    CHECK(!parse(Fields().i32("antialias", {0}).i32("exclude_outside", {3})).empty());
    CHECK(config.antialias == 1);
}

void test_advertised_fields() {
    int32_t count = 0;
    FieldView const* fields = advertised_fields(&count);
    std::set<std::string> names;
    for (int32_t i = 0; i < count; ++i) {
        names.insert(fields[i].name);
        CHECK(fields[i].data == nullptr);
        // Every advertised name must be accepted by the parser with its advertised type.
        ResizeConfig config;
        std::string const error = [&]() {
            Fields one;
            std::string const name = fields[i].name;
            if (fields[i].type == FieldType::kCHAR) {
                one.str(fields[i].name, "half_pixel");
            } else if (fields[i].type == FieldType::kFLOAT32) {
                one.f32(fields[i].name, fields[i].length == 1 ? std::vector<float>{-0.5f} : std::vector<float>{2, 2});
            } else {
                one.i32(fields[i].name, fields[i].length == 1 ? std::vector<int32_t>{1} : std::vector<int32_t>{4, 4});
            }
            return one.parse(&config);
        }();
        CHECK_OK(error);
    }
    CHECK(names.size() == static_cast<size_t>(count));
    for (char const* required : {"coordinate_transformation_mode", "cubic_coeff_a", "exclude_outside", "antialias",
                                 "align_corners", "sizes", "scales", "tensorrt_plugin_shape_input_indices"}) {
        CHECK(names.count(required) == 1);
    }
}

void test_serialization_round_trip() {
    std::vector<ResizeConfig> configs(6);
    configs[1].mode = CoordinateMode::kALIGN_CORNERS;
    configs[1].cubic_coeff_a = -0.5f;
    configs[1].exclude_outside = 1;
    configs[1].antialias = 1;
    configs[2].mode = CoordinateMode::kTF_HALF_PIXEL_FOR_NN;
    configs[2].sizes = {70000, 5};
    configs[3].mode = CoordinateMode::kHALF_PIXEL_SYMMETRIC;
    configs[3].scales = {0.7f, 1.0f / 3.0f};
    configs[4].scales = {2.0f, 2.5f};
    configs[4].sizes = {9, 10};
    configs[5].mode = CoordinateMode::kASYMMETRIC;
    configs[5].shape_input_indices = {1};
    for (ResizeConfig const& config : configs) {
        SerializedFields const serialized(config);
        ResizeConfig restored;
        restored.antialias = 1 - config.antialias;  // proves the field is read back
        CHECK_OK(parse_fields(serialized.data(), serialized.size(), &restored));
        CHECK(restored == config);
        std::set<std::string> names;
        for (int32_t i = 0; i < serialized.size(); ++i) {
            names.insert(serialized.data()[i].name);
        }
        CHECK(names.size() == static_cast<size_t>(serialized.size()));
    }
    // The mode travels as its name, so a reader of the plan sees what it means.
    SerializedFields const serialized(configs[1]);
    bool found = false;
    for (int32_t i = 0; i < serialized.size(); ++i) {
        FieldView const& field = serialized.data()[i];
        if (std::strcmp(field.name, "coordinate_transformation_mode") == 0) {
            found = field.type == FieldType::kCHAR &&
                    std::strcmp(static_cast<char const*>(field.data), "align_corners") == 0;
        }
    }
    CHECK(found);
    CHECK(describe(configs[3]).find("half_pixel_symmetric") != std::string::npos);
    CHECK(describe(configs[3]).find("scales=0.7,0.333333") != std::string::npos);
}

void test_byte_serialization() {
    std::vector<ResizeConfig> configs(5);
    configs[1].mode = CoordinateMode::kALIGN_CORNERS;
    configs[1].cubic_coeff_a = -0.5f;
    configs[1].exclude_outside = 1;
    configs[1].antialias = 1;
    configs[2].sizes = {70000, 5};
    configs[3].mode = CoordinateMode::kHALF_PIXEL_SYMMETRIC;
    configs[3].scales = {0.7f, 1.0f / 3.0f};
    configs[4].scales = {2.0f, 2.5f};
    configs[4].sizes = {9, 10};
    for (ResizeConfig const& config : configs) {
        std::vector<char> const bytes = serialize_config(config);
        ResizeConfig restored;
        restored.exclude_outside = 1 - config.exclude_outside;  // proves the field is read back
        CHECK_OK(deserialize_config(bytes.data(), bytes.size(), &restored));
        CHECK(restored == config);
        // Every truncation is refused, never read past the end (the sanitizers would see it).
        int accepted = 0;
        for (size_t cut = 0; cut < bytes.size(); ++cut) {
            std::vector<char> const head(bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(cut));
            accepted += deserialize_config(head.data(), head.size(), &restored).empty();
        }
        CHECK(accepted == 0);
        std::vector<char> longer = bytes;
        longer.push_back('x');
        CHECK_ERROR(deserialize_config(longer.data(), longer.size(), &restored), "truncated or corrupt");
    }
    std::vector<char> bytes = serialize_config(configs[1]);
    bytes[0] = 'X';
    ResizeConfig restored;
    CHECK_ERROR(deserialize_config(bytes.data(), bytes.size(), &restored), "not written by this plugin");
    bytes = serialize_config(configs[1]);
    bytes[4] = 9;
    CHECK_ERROR(deserialize_config(bytes.data(), bytes.size(), &restored), "format version 9");
    bytes = serialize_config(configs[1]);
    bytes[8] = static_cast<char>(0xff);  // a field count far beyond the buffer
    CHECK_ERROR(deserialize_config(bytes.data(), bytes.size(), &restored), "truncated or corrupt");
    CHECK_ERROR(deserialize_config(nullptr, 0, &restored), "truncated or corrupt");
    // Flipping any single byte is either refused or reads back a config that parse_fields accepts.
    bytes = serialize_config(configs[3]);
    for (size_t i = 0; i < bytes.size(); ++i) {
        std::vector<char> flipped = bytes;
        flipped[i] = static_cast<char>(flipped[i] ^ 0x5a);
        ResizeConfig any;
        deserialize_config(flipped.data(), flipped.size(), &any);
    }
}

void test_scaled_length_steps() {
    Ratio ratio{0, 0};
    for (float scale : {2.0f, 0.5f, 2.5f, 0.75f, 0.7f, 1.3f, 1.0f / 3.0f, 1.2345678f, 3.999f, 1e-3f, 65536.0f,
                        1.0f / 65536.0f, 1.0f}) {
        CHECK(scale_to_ratio(scale, &ratio));
        ScaledLengthSteps const steps = scaled_length_steps(ratio);
        CHECK(steps.fraction_digits.size() <= 5);
        int mismatches = 0;
        int too_wide = 0;
        for (int64_t in = 0; in <= 70000; ++in) {
            mismatches += apply_steps(in, steps) != scaled_length(in, ratio);
        }
        // The 32-bit promise: with in < 2^23 no intermediate value reaches 2^31.
        for (int64_t in : {int64_t{1} << 22, (int64_t{1} << 23) - 1}) {
            int64_t carry = 0;
            for (int32_t digit : steps.fraction_digits) {
                too_wide += (in * digit + carry) > std::numeric_limits<int32_t>::max();
                carry = (in * digit + carry) / 256;
            }
            mismatches += apply_steps(in, steps) != scaled_length(in, ratio);
        }
        CHECK(mismatches == 0);
        CHECK(too_wide == 0);
    }
    CHECK(scale_to_ratio(2.0f, &ratio));
    CHECK(scaled_length_steps(ratio).whole == 2 && scaled_length_steps(ratio).fraction_digits.empty());
    CHECK(scale_to_ratio(0.75f, &ratio));
    CHECK(scaled_length_steps(ratio).whole == 0 && scaled_length_steps(ratio).fraction_digits.size() == 1);
}

// floor(in * scale) with the float32 scale's exact value, computed independently in long double (64-bit
// mantissa: in * scale is exact for in < 2^31 and a 24-bit mantissa).
int64_t exact_floor(int64_t in, float scale) {
    return static_cast<int64_t>(std::floor(static_cast<long double>(in) * static_cast<long double>(scale)));
}

void test_scale_ratios() {
    struct Case {
        float scale;
        int64_t num;
        int64_t den;
    };
    Case const cases[] = {{2.0f, 2, 1},          {0.5f, 1, 2},         {2.5f, 5, 2},
                          {0.25f, 1, 4},         {3.0f, 3, 1},         {65536.0f, 65536, 1},
                          {1.0f / 65536.0f, 1, 65536}, {0.7f, 11744051, 16777216}};
    for (Case const& entry : cases) {
        Ratio ratio{0, 0};
        CHECK(scale_to_ratio(entry.scale, &ratio));
        CHECK(ratio.num == entry.num && ratio.den == entry.den);
    }
    Ratio ratio{0, 0};
    for (float scale : {0.7f, 1.3f, 1.0f / 3.0f, 1.2345678f, 3.999f, 1e-3f}) {
        CHECK(scale_to_ratio(scale, &ratio));
        CHECK(static_cast<double>(ratio.num) / static_cast<double>(ratio.den) == static_cast<double>(scale));
        int mismatches = 0;
        for (int64_t in = 0; in <= 70000; ++in) {
            mismatches += scaled_length(in, ratio) != exact_floor(in, scale);
        }
        CHECK(mismatches == 0);
    }
    CHECK(!scale_to_ratio(0.0f, &ratio));
    CHECK(!scale_to_ratio(-1.0f, &ratio));
    CHECK(!scale_to_ratio(std::nanf(""), &ratio));
    CHECK(!scale_to_ratio(1e6f, &ratio));

    // ONNX's exact rule, where onnxruntime's float32 product rounds up across an integer.
    CHECK(scale_to_ratio(0.7f, &ratio));
    CHECK(scaled_length(10, ratio) == 6);
    CHECK(scale_to_ratio(1.3f, &ratio));
    CHECK(scaled_length(90, ratio) == 116);
    CHECK(scaled_length(0, ratio) == 0);
    CHECK(scale_to_ratio(65536.0f, &ratio));
    CHECK(scaled_length(std::numeric_limits<int32_t>::max(), ratio) == int64_t{2147483647} * 65536);
    CHECK(scale_to_ratio(1.0f / 65536.0f, &ratio));
    CHECK(scaled_length(std::numeric_limits<int32_t>::max(), ratio) == 32767);
}

void test_plan_output() {
    ResizeConfig plain;
    OutputPlan plan;
    // Input 1 as a size carrier: a second regular input of rank >= 2.
    CHECK_OK(plan_output(plain, 2, 0, 4, 4, 0, &plan));
    CHECK(plan.source == SizeSource::kCARRIER);
    CHECK_OK(plan_output(plain, 2, 0, 3, 2, 0, &plan));
    CHECK_ERROR(plan_output(plain, 2, 0, 4, 1, 0, &plan), "rank 2 or more");
    // Input 1 as a shape input of 2 values.
    CHECK_OK(plan_output(plain, 1, 1, 4, 0, 2, &plan));
    CHECK(plan.source == SizeSource::kSHAPE_INPUT);
    CHECK_ERROR(plan_output(plain, 1, 1, 4, 0, 4, &plan), "2 values");
    // Attributes.
    ResizeConfig sizes;
    sizes.sizes = {64, 96};
    CHECK_OK(plan_output(sizes, 1, 0, 4, 0, 0, &plan));
    CHECK(plan.source == SizeSource::kSIZES && plan.sizes_hw[0] == 64 && plan.sizes_hw[1] == 96);
    ResizeConfig scales;
    scales.scales = {2.0f, 0.5f};
    CHECK_OK(plan_output(scales, 1, 0, 2, 0, 0, &plan));
    CHECK(plan.source == SizeSource::kSCALES);
    CHECK(plan.ratios_hw[0].num == 2 && plan.ratios_hw[0].den == 1);
    CHECK(plan.ratios_hw[1].num == 1 && plan.ratios_hw[1].den == 2);
    // First that applies: input 1, then sizes, then scales.
    ResizeConfig both = scales;
    both.sizes = {5, 6};
    CHECK_OK(plan_output(both, 1, 0, 4, 0, 0, &plan));
    CHECK(plan.source == SizeSource::kSIZES);
    CHECK_OK(plan_output(both, 2, 0, 4, 4, 0, &plan));
    CHECK(plan.source == SizeSource::kCARRIER);
    CHECK_OK(plan_output(both, 1, 1, 4, 0, 2, &plan));
    CHECK(plan.source == SizeSource::kSHAPE_INPUT);
    // Missing or extra sources.
    CHECK_ERROR(plan_output(plain, 1, 0, 4, 0, 0, &plan), "no output size");
    CHECK_ERROR(plan_output(plain, 3, 0, 4, 4, 0, &plan), "at most one");
    CHECK_ERROR(plan_output(plain, 2, 1, 4, 4, 2, &plan), "at most one");
    CHECK_ERROR(plan_output(plain, 1, 2, 4, 0, 2, &plan), "at most one");
    CHECK_ERROR(plan_output(plain, 2, 0, 1, 4, 0, &plan), "rank 2 or more");
    // A shape input the parser could not pass as one (TensorRT 10.0) is named as such.
    ResizeConfig marked;
    marked.shape_input_indices = {1};
    CHECK_ERROR(plan_output(marked, 2, 0, 4, 4, 0, &plan), "10.1");
    CHECK_OK(plan_output(marked, 1, 1, 4, 0, 2, &plan));
}

void test_output_dims() {
    std::vector<int64_t> out;
    int64_t const input[] = {2, 3, 17, 31};
    OutputPlan plan;
    ResizeConfig plain;

    int64_t const carrier[] = {1, 1, 68, 124};
    CHECK_OK(plan_output(plain, 2, 0, 4, 4, 0, &plan));
    CHECK_OK(output_dims(plan, input, 4, carrier, 4, nullptr, &out));
    CHECK((out == std::vector<int64_t>{2, 3, 68, 124}));
    int64_t const carrier2[] = {40, 41};
    CHECK_OK(output_dims(plan, input, 4, carrier2, 2, nullptr, &out));
    CHECK((out == std::vector<int64_t>{2, 3, 40, 41}));

    int64_t const shape_hw[] = {40, 50};
    CHECK_OK(plan_output(plain, 1, 1, 4, 0, 2, &plan));
    CHECK_OK(output_dims(plan, input, 4, nullptr, 0, shape_hw, &out));
    CHECK((out == std::vector<int64_t>{2, 3, 40, 50}));
    int64_t const negative[] = {-1, 50};
    CHECK_ERROR(output_dims(plan, input, 4, nullptr, 0, negative, &out), "negative");

    ResizeConfig sizes;
    sizes.sizes = {9, 8};
    CHECK_OK(plan_output(sizes, 1, 0, 4, 0, 0, &plan));
    CHECK_OK(output_dims(plan, input, 4, nullptr, 0, nullptr, &out));
    CHECK((out == std::vector<int64_t>{2, 3, 9, 8}));

    ResizeConfig scales;
    scales.scales = {2.5f, 0.7f};
    CHECK_OK(plan_output(scales, 1, 0, 4, 0, 0, &plan));
    int64_t const ten[] = {2, 3, 17, 10};
    CHECK_OK(output_dims(plan, ten, 4, nullptr, 0, nullptr, &out));
    CHECK((out == std::vector<int64_t>{2, 3, 42, 6}));  // floor(17 * 2.5), floor(10 * 0.7f) = 6
    int64_t const huge[] = {1, int64_t{1} << 33, 4};
    CHECK_ERROR(output_dims(plan, huge, 3, nullptr, 0, nullptr, &out), "2^31");
}

void test_launch_geometry() {
    ResizeConfig plain;
    LaunchGeometry geometry;
    int64_t const in[] = {2, 3, 5, 7, 11};
    int64_t const out[] = {2, 3, 5, 14, 22};
    CHECK_OK(launch_geometry(plain, in, 5, out, 5, &geometry));
    CHECK(geometry.planes == 30);
    CHECK(geometry.in_h == 7 && geometry.in_w == 11 && geometry.out_h == 14 && geometry.out_w == 22);
    CHECK(geometry.scale_h <= 0.0f && geometry.scale_w <= 0.0f);  // the kernel derives out / in
    CHECK(!geometry.empty());

    // Given scales reach the kernel, because ONNX divides by them rather than by out / in.
    ResizeConfig scales;
    scales.scales = {2.1f, 0.7f};
    CHECK_OK(launch_geometry(scales, in, 5, out, 5, &geometry));
    CHECK(geometry.scale_h == 2.1f && geometry.scale_w == 0.7f);

    int64_t const in2[] = {7, 11};
    int64_t const out2[] = {1, 1};
    CHECK_OK(launch_geometry(plain, in2, 2, out2, 2, &geometry));
    CHECK(geometry.planes == 1);

    int64_t const empty_batch[] = {0, 3, 7, 11};
    int64_t const empty_out[] = {0, 3, 14, 22};
    CHECK_OK(launch_geometry(plain, empty_batch, 4, empty_out, 4, &geometry));
    CHECK(geometry.empty());

    int64_t const in4[] = {1, 3, 7, 11};
    int64_t const changed_channels[] = {1, 4, 14, 22};
    CHECK_ERROR(launch_geometry(plain, in4, 4, changed_channels, 4, &geometry), "only H and W");
    CHECK_ERROR(launch_geometry(plain, in4, 4, out, 5, &geometry), "rank");
    CHECK_ERROR(launch_geometry(plain, in4, 1, out, 1, &geometry), "rank 2 or more");
    int64_t const empty_plane[] = {1, 3, 0, 11};
    int64_t const nonempty_out[] = {1, 3, 14, 22};
    CHECK_ERROR(launch_geometry(plain, empty_plane, 4, nonempty_out, 4, &geometry), "empty input");
    int64_t const huge[] = {int64_t{1} << 40, int64_t{1} << 40, 2, 2};
    CHECK_ERROR(launch_geometry(plain, huge, 4, huge, 4, &geometry), "overflow");
}

}  // namespace

int main() {
    test_defaults();
    test_node_attributes();
    test_align_corners_alias();
    test_invalid_attributes();
    test_advertised_fields();
    test_serialization_round_trip();
    test_scale_ratios();
    test_plan_output();
    test_output_dims();
    test_launch_geometry();
    test_byte_serialization();
    test_scaled_length_steps();
    std::printf("%d checks, %d failed\n", gChecks, gFailures);
    return gFailures == 0 ? 0 : 1;
}
