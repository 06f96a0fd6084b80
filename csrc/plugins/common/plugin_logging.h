// Error reporting for the plugin library: through the logger TensorRT hands over (setLoggerFinder, 8.6+), else
// TensorRT's global logger, else stderr. Plugin methods are noexcept, so this is the only way a reason reaches
// the user.
#ifndef TRTCONVERT_PLUGINS_COMMON_PLUGIN_LOGGING_H
#define TRTCONVERT_PLUGINS_COMMON_PLUGIN_LOGGING_H

#include <string>

#include <NvInferRuntime.h>

// ILoggerFinder, through which loadLibrary hands its logger over, exists from TensorRT 8.6.
#define TRTCONVERT_HAS_LOGGER_FINDER (NV_TENSORRT_MAJOR > 8 || (NV_TENSORRT_MAJOR == 8 && NV_TENSORRT_MINOR >= 6))

namespace trtconvert {
namespace plugins {

#if TRTCONVERT_HAS_LOGGER_FINDER
void set_logger_finder(nvinfer1::ILoggerFinder* finder) noexcept;
#endif

// TensorRT's getLogger(), resolved at load time like getPluginRegistry() (see registration.cpp).
void set_global_logger_source(nvinfer1::ILogger* (*get_logger)() noexcept) noexcept;

void log_error(std::string const& message) noexcept;
void log_warning(std::string const& message) noexcept;

}  // namespace plugins
}  // namespace trtconvert

#endif  // TRTCONVERT_PLUGINS_COMMON_PLUGIN_LOGGING_H
