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
constexpr char const* kShapeIndicesField = "tensorrt_plugin_shape_input_indices";
constexpr char const* kVersionField = "plugin_version";
constexpr char const* kNamespaceField = "plugin_namespace";

constexpr FieldView kAdvertised[] = {
    {kModeField, nullptr, FieldType::kCHAR, 1},
    {kCoeffField, nullptr, FieldType::kFLOAT32, 1},
    {kExcludeField, nullptr, FieldType::kINT32, 1},
    {kAntialiasField, nullptr, FieldType::kINT32, 1},
    {kAlignCornersField, nullptr, FieldType::kINT32, 1},
    {kSizesField, nullptr, FieldType::kINT32, 2},
    {kScalesField, nullptr, FieldType::kFLOAT32, 2},
    {kShapeIndicesField, nullptr, FieldType::kINT32, 1},
};

constexpr float kMinScale = 1.0f / 65536.0f;
constexpr float kMaxScale = 65536.0f;

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
           antialias == other.antialias && sizes == other.sizes && scales == other.scales &&
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
            if (error.empty() && parsed.sizes.size() != 2) {
                error = field_error(field.name, "expected 2 values [height, width], got " + join_values(parsed.sizes));
            }
            for (int64_t value : parsed.sizes) {
                if (error.empty() && value < 1) {
                    error = field_error(field.name, "every size must be at least 1, got " + join_values(parsed.sizes));
                }
            }
        } else if (name == kScalesField) {
            std::vector<double> values;
            error = read_floats(field, &values);
            if (error.empty() && values.size() != 2) {
                error = field_error(field.name, "expected 2 values [height, width], got " + join_values(values));
            }
            parsed.scales.clear();
            for (double value : values) {
                float const scale = static_cast<float>(value);
                if (error.empty() && !(std::isfinite(scale) && scale >= kMinScale && scale <= kMaxScale)) {
                    error = field_error(field.name, "every scale must be finite and within [2^-16, 2^16], got " +
                                                        join_values(values));
                }
                parsed.scales.push_back(scale);
            }
        } else if (name == kShapeIndicesField) {
            error = read_ints(field, &parsed.shape_input_indices);
            for (int64_t index : parsed.shape_input_indices) {
                // The node has the data input and at most one size input; only the latter can be a shape input.
                if (error.empty() && index != 1 && index != -1) {
                    error = field_error(field.name, "only input 1 (the output size) can be a shape input, got " +
                                                        join_values(parsed.shape_input_indices));
                }
            }
        } else if (name == kVersionField || name == kNamespaceField) {
            // Read by the ONNX parser to find the creator; nothing to do here.
            std::string ignored;
            error = read_string(field, &ignored);
        } else {
            error = field_error(field.name, "unknown field; known fields are " + join_names());
        }
        if (!error.empty()) {
            return error;
        }
    }

    // The attribute of older exports, read only without coordinate_transformation_mode; it follows PyTorch's
    // F.interpolate(mode="bicubic", align_corners=...).
    if (!has_mode && align_corners >= 0) {
        parsed.mode = align_corners == 1 ? CoordinateMode::kALIGN_CORNERS : CoordinateMode::kPYTORCH_HALF_PIXEL;
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
    if (!mShapeInputIndices.empty()) {
        mFields.push_back({kShapeIndicesField, mShapeInputIndices.data(), FieldType::kINT64,
                           static_cast<int32_t>(mShapeInputIndices.size())});
    }
}

namespace {

// Layout: magic, format version, field count, then per field: name length, name, type, element count, byte
// count, bytes. Integers are little-endian 32-bit, as every platform TensorRT runs on stores them.
constexpr char kMagic[4] = {'T', 'R', 'C', 'R'};
constexpr uint32_t kFormatVersion = 1;

size_t element_bytes(FieldType type) {
    switch (type) {
        case FieldType::kINT8:
        case FieldType::kCHAR: return 1;
        case FieldType::kFLOAT16:
        case FieldType::kINT16:
        case FieldType::kBF16: return 2;
        case FieldType::kFLOAT32:
        case FieldType::kINT32: return 4;
        case FieldType::kFLOAT64:
        case FieldType::kINT64: return 8;
        default: return 0;
    }
}

void put_u32(std::vector<char>* out, uint32_t value) {
    char bytes[4];
    std::memcpy(bytes, &value, sizeof(bytes));
    out->insert(out->end(), bytes, bytes + sizeof(bytes));
}

class Reader {
public:
    Reader(char const* data, size_t length) : mData(data), mLeft(length) {}
    bool bytes(size_t count, char const** where) {
        if (count > mLeft) {
            return false;
        }
        *where = mData;
        mData += count;
        mLeft -= count;
        return true;
    }
    bool u32(uint32_t* value) {
        char const* where = nullptr;
        if (!bytes(sizeof(*value), &where)) {
            return false;
        }
        std::memcpy(value, where, sizeof(*value));
        return true;
    }
    size_t left() const { return mLeft; }

private:
    char const* mData;
    size_t mLeft;
};

}  // namespace

std::vector<char> serialize_config(ResizeConfig const& config) {
    SerializedFields const fields(config);
    std::vector<char> out(kMagic, kMagic + sizeof(kMagic));
    put_u32(&out, kFormatVersion);
    put_u32(&out, static_cast<uint32_t>(fields.size()));
    for (int32_t i = 0; i < fields.size(); ++i) {
        FieldView const& field = fields.data()[i];
        size_t const name_length = std::strlen(field.name);
        size_t const byte_count = element_bytes(field.type) * static_cast<size_t>(field.length);
        put_u32(&out, static_cast<uint32_t>(name_length));
        out.insert(out.end(), field.name, field.name + name_length);
        put_u32(&out, static_cast<uint32_t>(field.type));
        put_u32(&out, static_cast<uint32_t>(field.length));
        put_u32(&out, static_cast<uint32_t>(byte_count));
        char const* data = static_cast<char const*>(field.data);
        out.insert(out.end(), data, data + byte_count);
    }
    return out;
}

std::string deserialize_config(void const* data, size_t length, ResizeConfig* config) {
    std::string const truncated = "DynamicTRTResize: the serialized plugin data is truncated or corrupt; rebuild the plan";
    if (data == nullptr || config == nullptr) {
        return truncated;
    }
    Reader reader(static_cast<char const*>(data), length);
    char const* magic = nullptr;
    uint32_t version = 0;
    uint32_t count = 0;
    if (!reader.bytes(sizeof(kMagic), &magic) || std::memcmp(magic, kMagic, sizeof(kMagic)) != 0) {
        return "DynamicTRTResize: the serialized plugin data was not written by this plugin; rebuild the plan";
    }
    if (!reader.u32(&version) || version != kFormatVersion) {
        return "DynamicTRTResize: the serialized plugin data has format version " + std::to_string(version) +
               ", this library reads " + std::to_string(kFormatVersion) + "; rebuild the plan with this library";
    }
    // Every field takes at least 16 bytes, which bounds a corrupt count before anything is allocated.
    if (!reader.u32(&count) || count > reader.left() / 16) {
        return truncated;
    }
    std::vector<std::string> names(count);
    std::vector<std::vector<char>> values(count);
    std::vector<FieldView> fields(count);
    for (uint32_t i = 0; i < count; ++i) {
        uint32_t name_length = 0;
        uint32_t type = 0;
        uint32_t elements = 0;
        uint32_t byte_count = 0;
        char const* where = nullptr;
        if (!reader.u32(&name_length) || !reader.bytes(name_length, &where)) {
            return truncated;
        }
        names[i].assign(where, name_length);
        if (!reader.u32(&type) || !reader.u32(&elements) || !reader.u32(&byte_count) ||
            !reader.bytes(byte_count, &where)) {
            return truncated;
        }
        FieldType const field_type = static_cast<FieldType>(type);
        if (elements > static_cast<uint32_t>(std::numeric_limits<int32_t>::max()) ||
            element_bytes(field_type) == 0 || byte_count != element_bytes(field_type) * elements) {
            return truncated;
        }
        // Copied so that every value is suitably aligned for its type.
        values[i].assign(where, where + byte_count);
        fields[i] = {names[i].c_str(), values[i].data(), field_type, static_cast<int32_t>(elements)};
    }
    if (reader.left() != 0) {
        return truncated;
    }
    return parse_fields(fields.data(), static_cast<int32_t>(fields.size()), config);
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
    return stream.str();
}

bool scale_to_ratio(float scale, Ratio* ratio) {
    if (!(std::isfinite(scale) && scale >= kMinScale && scale <= kMaxScale)) {
        return false;
    }
    // scale = mantissa * 2^(exponent - 24) exactly, with a 24-bit integer mantissa; in range, the exponent is at
    // most 17, so the denominator stays a power of two (at most 2^39) and the numerator at most 2^24.
    int exponent = 0;
    double const fraction = std::frexp(static_cast<double>(scale), &exponent);
    int64_t numerator = static_cast<int64_t>(std::ldexp(fraction, 24));
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
    // in < 2^31 and num <= 2^24 keep the product inside int64.
    return in * ratio.num / ratio.den;
}

ScaledLengthSteps scaled_length_steps(Ratio ratio) {
    ScaledLengthSteps steps;
    steps.whole = ratio.num / ratio.den;
    int64_t fraction = ratio.num % ratio.den;
    int shift = 0;
    while ((int64_t{1} << shift) < ratio.den) {
        ++shift;
    }
    // Whole base-256 digits: pad the fraction's binary point to a multiple of 8 bits.
    int const pad = (8 - shift % 8) % 8;
    fraction <<= pad;
    for (int digits = (shift + pad) / 8; digits > 0; --digits) {
        steps.fraction_digits.push_back(static_cast<int32_t>(fraction & 255));
        fraction >>= 8;
    }
    return steps;
}

int64_t apply_steps(int64_t in, ScaledLengthSteps const& steps) {
    int64_t carry = 0;
    for (int32_t digit : steps.fraction_digits) {
        carry = (in * digit + carry) / 256;
    }
    return in * steps.whole + carry;
}

std::string plan_output(ResizeConfig const& config, int32_t nb_inputs, int32_t nb_shape_inputs, int32_t rank,
                        int32_t carrier_rank, int32_t shape_values, OutputPlan* plan) {
    if (rank < 2) {
        return "DynamicTRTResize: the input needs rank 2 or more (it resizes the two innermost axes), got rank " +
               std::to_string(rank);
    }
    OutputPlan result;
    if (nb_inputs == 2 && nb_shape_inputs == 0) {
        if (!config.shape_input_indices.empty()) {
            return "DynamicTRTResize: tensorrt_plugin_shape_input_indices marks input 1 a shape input, but TensorRT "
                   "passed it as a regular input; plugin shape inputs need TensorRT 10.1 or newer";
        }
        if (carrier_rank < 2) {
            return "DynamicTRTResize: the size input must have rank 2 or more (its last two dims are the output "
                   "height and width), got rank " + std::to_string(carrier_rank);
        }
        result.source = SizeSource::kCARRIER;
    } else if (nb_inputs == 1 && nb_shape_inputs == 1) {
        if (shape_values != 2) {
            return "DynamicTRTResize: the output-size shape input must hold 2 values [height, width], got " +
                   std::to_string(shape_values);
        }
        result.source = SizeSource::kSHAPE_INPUT;
    } else if (nb_inputs == 1 && nb_shape_inputs == 0) {
        if (!config.sizes.empty()) {
            result.source = SizeSource::kSIZES;
            result.sizes_hw[0] = config.sizes[0];
            result.sizes_hw[1] = config.sizes[1];
        } else if (!config.scales.empty()) {
            result.source = SizeSource::kSCALES;
            for (std::size_t i = 0; i < 2; ++i) {
                if (!scale_to_ratio(config.scales[i], &result.ratios_hw[i])) {
                    return "DynamicTRTResize: scales must be finite and within [2^-16, 2^16], got " +
                           join_values(config.scales);
                }
            }
        } else {
            return "DynamicTRTResize: no output size: give a second input (a tensor whose last two dims are the "
                   "height and width, or a [height, width] shape input), or a sizes or scales attribute";
        }
    } else {
        return "DynamicTRTResize: expected the data input plus at most one output-size input, got " +
               std::to_string(nb_inputs) + " inputs and " + std::to_string(nb_shape_inputs) + " shape inputs";
    }
    *plan = result;
    return {};
}

std::string output_dims(OutputPlan const& plan, int64_t const* input, int32_t rank, int64_t const* carrier,
                        int32_t carrier_rank, int64_t const* shape, std::vector<int64_t>* out) {
    if (rank < 2 || input == nullptr) {
        return "DynamicTRTResize: the input needs rank 2 or more";
    }
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
            if (shape == nullptr) {
                return "DynamicTRTResize: the output-size shape input has no values";
            }
            h = shape[0];
            w = shape[1];
            break;
        case SizeSource::kSIZES:
            h = plan.sizes_hw[0];
            w = plan.sizes_hw[1];
            break;
        case SizeSource::kSCALES:
            for (int32_t axis : {rank - 2, rank - 1}) {
                if (input[axis] < 0 || input[axis] > std::numeric_limits<int32_t>::max()) {
                    return "DynamicTRTResize: input height and width must be in [0, 2^31)";
                }
            }
            h = scaled_length(input[rank - 2], plan.ratios_hw[0]);
            w = scaled_length(input[rank - 1], plan.ratios_hw[1]);
            break;
    }
    if (h < 0 || w < 0) {
        return "DynamicTRTResize: output height and width must not be negative, got " + std::to_string(h) + "x" +
               std::to_string(w);
    }
    out->assign(input, input + rank);
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
    // The given scales drive the coordinate transform whatever set the output size (ONNX divides by them, not by
    // out / in).
    if (config.scales.size() == 2) {
        result.scale_h = config.scales[0];
        result.scale_w = config.scales[1];
    }
    *geometry = result;
    return {};
}

}  // namespace resize
}  // namespace trtconvert
