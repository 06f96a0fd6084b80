// A TensorRT logger that keeps warnings and errors, for the plugin's C++ test programs: the stand-in libnvinfer
// answers getLogger() with one, and the contract tests read what the plugin library logged.
#ifndef TRTCONVERT_PLUGINS_TESTS_RECORDING_LOGGER_H
#define TRTCONVERT_PLUGINS_TESTS_RECORDING_LOGGER_H

#include <string>
#include <vector>

#include <NvInferRuntime.h>

class RecordingLogger : public nvinfer1::ILogger {
public:
    void log(Severity severity, char const* msg) noexcept override {
        if (severity <= Severity::kWARNING) {
            messages.emplace_back(msg);
        }
    }
    bool saw(char const* needle) const {
        for (std::string const& message : messages) {
            if (message.find(needle) != std::string::npos) {
                return true;
            }
        }
        return false;
    }
    std::vector<std::string> messages;
};

#endif  // TRTCONVERT_PLUGINS_TESTS_RECORDING_LOGGER_H
