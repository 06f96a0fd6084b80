#include "plugin_logging.h"

#include <atomic>
#include <cstdio>

namespace trtconvert {
namespace plugins {
namespace {

#if TRTCONVERT_HAS_LOGGER_FINDER
std::atomic<nvinfer1::ILoggerFinder*> gLoggerFinder{nullptr};
#endif
std::atomic<nvinfer1::ILogger* (*)() noexcept> gGetLogger{nullptr};

nvinfer1::ILogger* current_logger() noexcept {
#if TRTCONVERT_HAS_LOGGER_FINDER
    if (nvinfer1::ILoggerFinder* finder = gLoggerFinder.load()) {
        if (nvinfer1::ILogger* logger = finder->findLogger()) {
            return logger;
        }
    }
#endif
    if (auto get_logger = gGetLogger.load()) {
        return get_logger();
    }
    return nullptr;
}

void emit(nvinfer1::ILogger::Severity severity, char const* tag, std::string const& message) noexcept {
    try {
        std::string const line = "[trtconvert_plugins] " + message;
        if (nvinfer1::ILogger* logger = current_logger()) {
            logger->log(severity, line.c_str());
        } else {
            std::fprintf(stderr, "%s: %s\n", tag, line.c_str());
        }
    } catch (...) {
        // Out of memory while building the message: nothing useful is left to say.
    }
}

}  // namespace

#if TRTCONVERT_HAS_LOGGER_FINDER
void set_logger_finder(nvinfer1::ILoggerFinder* finder) noexcept {
    if (finder != nullptr) {
        gLoggerFinder.store(finder);
    }
}
#endif

void set_global_logger_source(nvinfer1::ILogger* (*get_logger)() noexcept) noexcept { gGetLogger.store(get_logger); }

void log_error(std::string const& message) noexcept { emit(nvinfer1::ILogger::Severity::kERROR, "error", message); }

void log_warning(std::string const& message) noexcept {
    emit(nvinfer1::ILogger::Severity::kWARNING, "warning", message);
}

}  // namespace plugins
}  // namespace trtconvert
