#include "resize_config.h"

#include <cmath>
#include <cstring>
#include <limits>
#include <set>
#include <sstream>

namespace trtconvert {
namespace resize {
namespace {

struct ModeName {
    CoordinateMode mode;
    char const* name;
};

constexpr ModeName kModes[] = {
    {CoordinateMode::kHALF_PIXEL, "half_pixel"},
    {CoordinateMode::kPYTORCH_HALF_PIXEL, "pytorch_half_pixel"},
    {CoordinateMode::kALIGN_CORNERS, "align_corners"},
    {CoordinateMode::kASYMMETRIC, "asymmetric"},
    {CoordinateMode::kHALF_PIXEL_SYMMETRIC, "half_pixel_symmetric"},
    {CoordinateMode::kTF_HALF_PIXEL_FOR_NN, "tf_half_pixel_for_nn"},
};

// Field names. The build-phase ones are the node's attribute names; serialization reuses them.
constexpr char const* kModeField = "coordinate_transformation_mode";
constexpr char const* kCoeffField = "cubic_coeff_a";
constexpr char const* kExcludeField = "exclude_outside";
constexpr char const* kAntialiasField = "antialias";
constexpr char const* kAlignCornersField = "align_corners";
constexpr char const* kSizesField = "sizes";
constexpr char const* kScalesField = "scales";
constexpr char const* kAxesField = "axes";
constexpr char const* kShapeIndicesField = "tensorrt_plugin_shape_input_indices";
constexpr char const* kResizeModeField = "mode";
constexpr char const* kNearestModeField = "nearest_mode";
constexpr char const* kAspectField = "keep_aspect_ratio_policy";
constexpr char const* kVersionField = "plugin_version";
constexpr char const* kNamespaceField = "plugin_namespace";

constexpr FieldView kAdvertised[] = {
    {kModeField, nullptr, FieldType::kCHAR, 1},
    {kCoeffField, nullptr, FieldType::kFLOAT32, 1},
    {kExcludeField, nullptr, FieldType::kINT32, 1},
    {kAntialiasField, nullptr, FieldType::kINT32, 1},
    {kAlignCornersField, nullptr, FieldType::kINT32, 1},
    {kSizesField, nullptr, FieldType::kINT32, 0},
    {kScalesField, nullptr, FieldType::kFLOAT32, 0},
    {kAxesField, nullptr, FieldType::kINT32, 0},
    {kShapeIndicesField, nullptr, FieldType::kINT32, 0},
    {kResizeModeField, nullptr, FieldType::kCHAR, 1},
    {kNearestModeField, nullptr, FieldType::kCHAR, 1},
    {kAspectField, nullptr, FieldType::kCHAR, 1},
};

constexpr float kMinScale = 1.0f / 65536.0f;
constexpr float kMaxScale = 65536.0f;
constexpr int64_t kMaxDenominator = 65536;

bool is_integer_type(FieldType type) {
    return type == FieldType::kINT8 || type == FieldType::kINT16 || type == FieldType::kINT32 ||
           type == FieldType::kINT64;
}

bool is_float_type(FieldType type) { return type == FieldType::kFLOAT32 || type == FieldType::kFLOAT64; }

std::string field_error(char const* name, std::string const& what) {
    return std::string("DynamicTRTResize field '") + name + "': " + what;
}

std::string read_ints(FieldView const& field, std::vector<int64_t>* values) {
    if (!is_integer_type(field.type)) {
        return field_error(field.name, "expected integers (INT or INTS attribute)");
    }
    if (field.length < 0 || (field.length > 0 && field.data == nullptr)) {
        return field_error(field.name, "has no data");
    }
    values->clear();
    for (int32_t i = 0; i < field.length; ++i) {
        switch (field.type) {
            case FieldType::kINT8: values->push_back(static_cast<int8_t const*>(field.data)[i]); break;
            case FieldType::kINT16: values->push_back(static_cast<int16_t const*>(field.data)[i]); break;
            case FieldType::kINT32: values->push_back(static_cast<int32_t const*>(field.data)[i]); break;
            default: values->push_back(static_cast<int64_t const*>(field.data)[i]); break;
        }
    }
    return {};
}

std::string read_floats(FieldView const& field, std::vector<double>* values) {
    if (!is_float_type(field.type)) {
        return field_error(field.name, "expected floats (FLOAT or FLOATS attribute)");
    }
    if (field.length < 0 || (field.length > 0 && field.data == nullptr)) {
        return field_error(field.name, "has no data");
    }
    values->clear();
    for (int32_t i = 0; i < field.length; ++i) {
        if (field.type == FieldType::kFLOAT32) {
            values->push_back(static_cast<double>(static_cast<float const*>(field.data)[i]));
        } else {
            values->push_back(static_cast<double const*>(field.data)[i]);
        }
    }
    return {};
}

std::string read_string(FieldView const& field, std::string* value) {
    if (field.type != FieldType::kCHAR) {
        return field_error(field.name, "expected a string (STRING attribute)");
    }
    if (field.length < 0 || (field.length > 0 && field.data == nullptr)) {
        return field_error(field.name, "has no data");
    }
    // The length may or may not count a terminator; stop at the first NUL either way.
    char const* chars = static_cast<char const*>(field.data);
    size_t length = 0;
    while (length < static_cast<size_t>(field.length) && chars[length] != '\0') {
        ++length;
    }
    value->assign(chars, length);
    return {};
}

std::string read_scalar_int(FieldView const& field, int64_t* value) {
    std::vector<int64_t> values;
    std::string error = read_ints(field, &values);
    if (!error.empty()) {
        return error;
    }
    if (values.size() != 1) {
        return field_error(field.name, "expected one integer, got " + std::to_string(values.size()));
    }
    *value = values[0];
    return {};
}

std::string read_flag(FieldView const& field, int32_t* flag) {
    int64_t value = 0;
    std::string error = read_scalar_int(field, &value);
    if (!error.empty()) {
        return error;
    }
    if (value != 0 && value != 1) {
        return field_error(field.name, "must be 0 or 1, got " + std::to_string(value));
    }
    *flag = static_cast<int32_t>(value);
    return {};
}

std::string join_names() {
    std::string names;
    for (FieldView const& field : kAdvertised) {
        names += names.empty() ? "" : ", ";
        names += field.name;
    }
    return names;
}

template <typename T>
std::string join_values(std::vector<T> const& values) {
    std::ostringstream stream;
    for (size_t i = 0; i < values.size(); ++i) {
        stream << (i == 0 ? "" : ",") << values[i];
    }
    return stream.str();
}

bool checked_mul(int64_t a, int64_t b, int64_t* out) {
    if (a != 0 && b > std::numeric_limits<int64_t>::max() / a) {
        return false;
    }
    *out = a * b;
    return true;
}

}  // namespace

char const* coordinate_mode_name(CoordinateMode mode) {
    for (ModeName const& entry : kModes) {
        if (entry.mode == mode) {
            return entry.name;
        }
    }
    return "unknown";
}

bool ResizeConfig::operator==(ResizeConfig const& other) const {
    return mode == other.mode && cubic_coeff_a == other.cubic_coeff_a && exclude_outside == other.exclude_outside &&
           antialias == other.antialias && sizes == other.sizes && scales == other.scales && axes == other.axes &&
           shape_input_indices == other.shape_input_indices;
}

std::string parse_fields(FieldView const* fields, int32_t count, ResizeConfig* config) {
    if (config == nullptr || count < 0 || (count > 0 && fields == nullptr)) {
        return "DynamicTRTResize: no field collection was given";
    }
    ResizeConfig parsed;
    bool has_mode = false;
    int32_t align_corners = -1;
    std::set<std::string> seen;
    for (int32_t i = 0; i < count; ++i) {
        FieldView const& field = fields[i];
        if (field.name == nullptr) {
            return "DynamicTRTResize: a field has no name";
        }
        std::string const name(field.name);
        if (!seen.insert(name).second) {
            return field_error(field.name, "given twice");
        }
        std::string error;
        if (name == kModeField) {
            std::string value;
            error = read_string(field, &value);
            if (error.empty()) {
                has_mode = false;
                for (ModeName const& entry : kModes) {
                    if (value == entry.name) {
                        parsed.mode = entry.mode;
                        has_mode = true;
                    }
                }
                if (!has_mode) {
                    std::string known;
                    for (ModeName const& entry : kModes) {
                        known += known.empty() ? "" : ", ";
                        known += entry.name;
                    }
                    error = field_error(field.name, "unsupported value '" + value + "'; expected one of " + known);
                }
            }
        } else if (name == kCoeffField) {
            std::vector<double> values;
            error = read_floats(field, &values);
            if (error.empty() && values.size() != 1) {
                error = field_error(field.name, "expected one float, got " + std::to_string(values.size()));
            } else if (error.empty() && !std::isfinite(values[0])) {
                error = field_error(field.name, "must be finite");
            } else if (error.empty()) {
                parsed.cubic_coeff_a = static_cast<float>(values[0]);
            }
        } else if (name == kExcludeField) {
            error = read_flag(field, &parsed.exclude_outside);
        } else if (name == kAntialiasField) {
            error = read_flag(field, &parsed.antialias);
        } else if (name == kAlignCornersField) {
            error = read_flag(field, &align_corners);
        } else if (name == kSizesField) {
            error = read_ints(field, &parsed.sizes);
            for (int64_t value : parsed.sizes) {
                if (error.empty() && value < 1) {
                    error = field_error(field.name, "every size must be at least 1, got " + join_values(parsed.sizes));
                }
            }
        } else if (name == kScalesField) {
            std::vector<double> values;
            error = read_floats(field, &values);
            parsed.scales.clear();
            for (double value : values) {
                float const scale = static_cast<float>(value);
                if (error.empty() && !(std::isfinite(scale) && scale >= kMinScale && scale <= kMaxScale)) {
                    error = field_error(field.name, "every scale must be finite and within [2^-16, 2^16], got " +
                                                        join_values(values));
                }
                parsed.scales.push_back(scale);
            }
        } else if (name == kAxesField) {
            error = read_ints(field, &parsed.axes);
        } else if (name == kShapeIndicesField) {
            error = read_ints(field, &parsed.shape_input_indices);
            for (int64_t index : parsed.shape_input_indices) {
                // A node has the data input and at most one size input; only the latter can be a shape input.
                if (error.empty() && index != 1 && index != -1) {
                    error = field_error(field.name, "only input 1 (the sizes) can be a shape input, got " +
                                                        join_values(parsed.shape_input_indices));
                }
            }
        } else if (name == kResizeModeField) {
            std::string value;
            error = read_string(field, &value);
            if (error.empty() && value != "cubic") {
                error = field_error(field.name, "DynamicTRTResize only does cubic resizing, got '" + value + "'");
            }
        } else if (name == kAspectField) {
            std::string value;
            error = read_string(field, &value);
            if (error.empty() && value != "stretch") {
                error = field_error(field.name, "only 'stretch' is supported, got '" + value +
                                                    "'; resolve the aspect ratio into explicit sizes first");
            }
        } else if (name == kNearestModeField || name == kVersionField || name == kNamespaceField) {
            // Carried over from the ONNX node or read by the parser itself; no meaning for a cubic resize here.
            std::string ignored;
            error = read_string(field, &ignored);
        } else {
            error = field_error(field.name, "unknown field; known fields are " + join_names());
        }
        if (!error.empty()) {
            return error;
        }
    }

    if (align_corners == 1) {
        if (has_mode && parsed.mode != CoordinateMode::kALIGN_CORNERS) {
            return std::string("DynamicTRTResize: align_corners=1 contradicts coordinate_transformation_mode='") +
                   coordinate_mode_name(parsed.mode) + "'; give only one of them";
        }
        parsed.mode = CoordinateMode::kALIGN_CORNERS;
    } else if (align_corners == 0) {
        if (has_mode && parsed.mode == CoordinateMode::kALIGN_CORNERS) {
            return "DynamicTRTResize: align_corners=0 contradicts coordinate_transformation_mode='align_corners'; "
                   "give only one of them";
        }
        // The legacy attribute follows PyTorch's F.interpolate(align_corners=False).
        if (!has_mode) {
            parsed.mode = CoordinateMode::kPYTORCH_HALF_PIXEL;
        }
    }
    if (!parsed.sizes.empty() && !parsed.scales.empty()) {
        return "DynamicTRTResize: both sizes and scales are given; give only one of them";
    }
    if (parsed.scales.size() == 1 || parsed.sizes.size() == 1) {
        return "DynamicTRTResize: sizes and scales need an entry per resized axis (at least 2)";
    }
    for (size_t i = 0; i + 2 < parsed.scales.size(); ++i) {
        if (parsed.scales[i] != 1.0f) {
            return "DynamicTRTResize: only the two innermost axes can be resized, but scales are " +
                   join_values(parsed.scales);
        }
    }
    if (!parsed.axes.empty()) {
        if (parsed.axes.size() != 2) {
            return "DynamicTRTResize: axes must name the two innermost axes, got " + join_values(parsed.axes);
        }
        if (parsed.sizes.size() > 2 || parsed.scales.size() > 2) {
            return "DynamicTRTResize: with axes, sizes or scales need exactly 2 entries";
        }
    }
    *config = parsed;
    return {};
}

FieldView const* advertised_fields(int32_t* count) {
    *count = static_cast<int32_t>(sizeof(kAdvertised) / sizeof(kAdvertised[0]));
    return kAdvertised;
}

SerializedFields::SerializedFields(ResizeConfig const& config)
    : mMode(coordinate_mode_name(config.mode)),
      mCoeff(config.cubic_coeff_a),
      mExcludeOutside(config.exclude_outside),
      mAntialias(config.antialias),
      mSizes(config.sizes),
      mScales(config.scales),
      mAxes(config.axes),
      mShapeInputIndices(config.shape_input_indices) {
    // Pointers into members stay valid: the object is neither copied nor moved.
    mFields.push_back({kModeField, mMode.c_str(), FieldType::kCHAR, static_cast<int32_t>(mMode.size() + 1)});
    mFields.push_back({kCoeffField, &mCoeff, FieldType::kFLOAT32, 1});
    mFields.push_back({kExcludeField, &mExcludeOutside, FieldType::kINT32, 1});
    mFields.push_back({kAntialiasField, &mAntialias, FieldType::kINT32, 1});
    if (!mSizes.empty()) {
        mFields.push_back({kSizesField, mSizes.data(), FieldType::kINT64, static_cast<int32_t>(mSizes.size())});
    }
    if (!mScales.empty()) {
        mFields.push_back({kScalesField, mScales.data(), FieldType::kFLOAT32, static_cast<int32_t>(mScales.size())});
    }
    if (!mAxes.empty()) {
        mFields.push_back({kAxesField, mAxes.data(), FieldType::kINT64, static_cast<int32_t>(mAxes.size())});
    }
    if (!mShapeInputIndices.empty()) {
        mFields.push_back({kShapeIndicesField, mShapeInputIndices.data(), FieldType::kINT64,
                           static_cast<int32_t>(mShapeInputIndices.size())});
    }
}

std::string describe(ResizeConfig const& config) {
    std::ostringstream stream;
    stream << kModeField << "=" << coordinate_mode_name(config.mode) << " " << kCoeffField << "="
           << config.cubic_coeff_a << " " << kExcludeField << "=" << config.exclude_outside << " "
           << kAntialiasField << "=" << config.antialias;
    if (!config.sizes.empty()) {
        stream << " sizes=" << join_values(config.sizes);
    }
    if (!config.scales.empty()) {
        stream << " scales=" << join_values(config.scales);
    }
    if (!config.axes.empty()) {
        stream << " axes=" << join_values(config.axes);
    }
    return stream.str();
}

bool scale_to_ratio(float scale, Ratio* ratio) {
    if (!(std::isfinite(scale) && scale >= kMinScale && scale <= kMaxScale)) {
        return false;
    }
    // Continued-fraction convergents of the float's exact value, smallest denominator first.
    double const target = static_cast<double>(scale);
    double remainder = target;
    int64_t num_prev = 1, num = static_cast<int64_t>(std::floor(remainder));
    int64_t den_prev = 0, den = 1;
    for (int step = 0; step < 64; ++step) {
        if (static_cast<float>(static_cast<double>(num) / static_cast<double>(den)) == scale && num > 0) {
            *ratio = {num, den};
            return true;
        }
        double const fraction = remainder - std::floor(remainder);
        if (fraction == 0.0) {
            break;
        }
        remainder = 1.0 / fraction;
        int64_t const term = static_cast<int64_t>(std::floor(remainder));
        int64_t const num_next = term * num + num_prev;
        int64_t const den_next = term * den + den_prev;
        if (den_next > kMaxDenominator) {
            break;
        }
        num_prev = num;
        den_prev = den;
        num = num_next;
        den = den_next;
    }
    // The float's exact binary value: mantissa / 2^k. A float32 in range has at most 24 significant bits and an
    // exponent that keeps 2^k below 2^40.
    int exponent = 0;
    double const mantissa = std::frexp(target, &exponent);
    int64_t numerator = static_cast<int64_t>(std::ldexp(mantissa, 24));
    int shift = 24 - exponent;
    while (shift > 0 && numerator % 2 == 0) {
        numerator /= 2;
        --shift;
    }
    if (shift < 0) {
        numerator <<= -shift;
        shift = 0;
    }
    *ratio = {numerator, int64_t{1} << shift};
    return true;
}

int64_t scaled_length(int64_t in, Ratio ratio) {
    // in < 2^31 and num < 2^40 keep the product inside int64.
    return in * ratio.num / ratio.den;
}

std::string plan_output(ResizeConfig const& config, int32_t nb_inputs, int32_t nb_shape_inputs, int32_t rank,
                        int32_t carrier_rank, int32_t shape_values, OutputPlan* plan) {
    if (rank < 2) {
        return "DynamicTRTResize: the input needs rank 2 or more (it resizes the two innermost axes), got rank " +
               std::to_string(rank);
    }
    if (!config.axes.empty()) {
        for (size_t i = 0; i < 2; ++i) {
            int64_t const axis = config.axes[i] < 0 ? config.axes[i] + rank : config.axes[i];
            if (axis != rank - 2 + static_cast<int64_t>(i)) {
                return "DynamicTRTResize: axes must be the two innermost axes in order (" + std::to_string(rank - 2) +
                       "," + std::to_string(rank - 1) + " or -2,-1), got " + join_values(config.axes);
            }
        }
    }
    bool const has_attribute_size = !config.sizes.empty() || !config.scales.empty();
    OutputPlan result;
    if (nb_inputs == 2 && nb_shape_inputs == 0) {
        if (has_attribute_size) {
            return "DynamicTRTResize: the node has a size input and a sizes/scales attribute; give only one";
        }
        if (!config.shape_input_indices.empty()) {
            return "DynamicTRTResize: tensorrt_plugin_shape_input_indices is set but TensorRT passed input 1 as a "
                   "regular input; the ONNX parser needs TensorRT 10.1 or newer for shape inputs";
        }
        if (carrier_rank < 2) {
            return "DynamicTRTResize: the size input must have rank 2 or more (its last two dims are the output "
                   "H and W), got rank " + std::to_string(carrier_rank);
        }
        result.source = SizeSource::kCARRIER;
    } else if (nb_inputs == 1 && nb_shape_inputs == 1) {
        if (has_attribute_size) {
            return "DynamicTRTResize: the node has a sizes shape input and a sizes/scales attribute; give only one";
        }
        if (shape_values != 2 && shape_values != rank) {
            return "DynamicTRTResize: the sizes shape input needs 2 values (H, W) or one per input axis (" +
                   std::to_string(rank) + "), got " + std::to_string(shape_values);
        }
        result.source = SizeSource::kSHAPE_INPUT;
        result.shape_offset = shape_values - 2;
    } else if (nb_inputs == 1 && nb_shape_inputs == 0) {
        std::size_t const given = config.sizes.empty() ? config.scales.size() : config.sizes.size();
        if (!has_attribute_size) {
            return "DynamicTRTResize: no output size: give a second input (its last two dims are H and W), a sizes "
                   "shape input, or a sizes/scales attribute";
        }
        if (given != 2 && given != static_cast<std::size_t>(rank)) {
            return "DynamicTRTResize: sizes/scales need 2 entries or one per input axis (" + std::to_string(rank) +
                   "), got " + std::to_string(given);
        }
        if (!config.sizes.empty()) {
            result.source = SizeSource::kSIZES;
            result.sizes_hw[0] = config.sizes[given - 2];
            result.sizes_hw[1] = config.sizes[given - 1];
        } else {
            result.source = SizeSource::kSCALES;
            for (int i = 0; i < 2; ++i) {
                if (!scale_to_ratio(config.scales[given - 2 + static_cast<std::size_t>(i)], &result.ratios_hw[i])) {
                    return "DynamicTRTResize: scales must be finite and within [2^-16, 2^16], got " +
                           join_values(config.scales);
                }
            }
        }
    } else {
        return "DynamicTRTResize: expected the data input plus at most one size input (a tensor or a shape input), "
               "got " + std::to_string(nb_inputs) + " inputs and " + std::to_string(nb_shape_inputs) +
               " shape inputs";
    }
    *plan = result;
    return {};
}

std::string output_dims(ResizeConfig const& config, OutputPlan const& plan, int64_t const* input, int32_t rank,
                        int64_t const* carrier, int32_t carrier_rank, int64_t const* shape, int32_t shape_values,
                        std::vector<int64_t>* out) {
    if (rank < 2 || input == nullptr) {
        return "DynamicTRTResize: the input needs rank 2 or more";
    }
    out->assign(input, input + rank);
    int64_t h = 0;
    int64_t w = 0;
    switch (plan.source) {
        case SizeSource::kCARRIER:
            if (carrier == nullptr || carrier_rank < 2) {
                return "DynamicTRTResize: the size input needs rank 2 or more";
            }
            h = carrier[carrier_rank - 2];
            w = carrier[carrier_rank - 1];
            break;
        case SizeSource::kSHAPE_INPUT:
            if (shape == nullptr || shape_values < plan.shape_offset + 2) {
                return "DynamicTRTResize: the sizes shape input has too few values";
            }
            for (int32_t i = 0; i < plan.shape_offset; ++i) {
                if (shape[i] != input[i]) {
                    return "DynamicTRTResize: sizes may only change the two innermost axes, but sizes are " +
                           join_values(std::vector<int64_t>(shape, shape + shape_values));
                }
            }
            h = shape[plan.shape_offset];
            w = shape[plan.shape_offset + 1];
            break;
        case SizeSource::kSIZES:
            if (config.sizes.size() == static_cast<std::size_t>(rank)) {
                for (int32_t i = 0; i + 2 < rank; ++i) {
                    if (config.sizes[static_cast<std::size_t>(i)] != input[i]) {
                        return "DynamicTRTResize: sizes may only change the two innermost axes, but sizes are " +
                               join_values(config.sizes);
                    }
                }
            }
            h = plan.sizes_hw[0];
            w = plan.sizes_hw[1];
            break;
        case SizeSource::kSCALES:
            if (input[rank - 2] < 0 || input[rank - 1] < 0 || input[rank - 2] > std::numeric_limits<int32_t>::max() ||
                input[rank - 1] > std::numeric_limits<int32_t>::max()) {
                return "DynamicTRTResize: input height and width must be in [0, 2^31)";
            }
            h = scaled_length(input[rank - 2], plan.ratios_hw[0]);
            w = scaled_length(input[rank - 1], plan.ratios_hw[1]);
            break;
    }
    if (h < 0 || w < 0) {
        return "DynamicTRTResize: output height and width must not be negative, got " + std::to_string(h) + "x" +
               std::to_string(w);
    }
    (*out)[static_cast<std::size_t>(rank - 2)] = h;
    (*out)[static_cast<std::size_t>(rank - 1)] = w;
    return {};
}

std::string launch_geometry(ResizeConfig const& config, int64_t const* in_dims, int32_t in_rank,
                            int64_t const* out_dims, int32_t out_rank, LaunchGeometry* geometry) {
    if (in_rank < 2 || in_dims == nullptr || out_dims == nullptr) {
        return "DynamicTRTResize: the input needs rank 2 or more, got rank " + std::to_string(in_rank);
    }
    if (out_rank != in_rank) {
        return "DynamicTRTResize: output rank " + std::to_string(out_rank) + " differs from input rank " +
               std::to_string(in_rank);
    }
    LaunchGeometry result;
    result.planes = 1;
    for (int32_t i = 0; i + 2 < in_rank; ++i) {
        if (in_dims[i] != out_dims[i]) {
            return "DynamicTRTResize: output dim " + std::to_string(i) + " (" + std::to_string(out_dims[i]) +
                   ") differs from the input's (" + std::to_string(in_dims[i]) + "); only H and W are resized";
        }
        if (in_dims[i] < 0 || !checked_mul(result.planes, in_dims[i], &result.planes)) {
            return "DynamicTRTResize: the input's leading dims are negative or overflow";
        }
    }
    result.in_h = in_dims[in_rank - 2];
    result.in_w = in_dims[in_rank - 1];
    result.out_h = out_dims[in_rank - 2];
    result.out_w = out_dims[in_rank - 1];
    if (result.in_h < 0 || result.in_w < 0 || result.out_h < 0 || result.out_w < 0) {
        return "DynamicTRTResize: negative height or width";
    }
    if ((result.in_h == 0 || result.in_w == 0) && result.planes > 0 && result.out_h > 0 && result.out_w > 0) {
        return "DynamicTRTResize: cannot resize an empty input to a non-empty output";
    }
    if (config.scales.size() >= 2) {
        result.scale_h = config.scales[config.scales.size() - 2];
        result.scale_w = config.scales[config.scales.size() - 1];
    }
    *geometry = result;
    return {};
}

}  // namespace resize
}  // namespace trtconvert
