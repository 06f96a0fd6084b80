// Error reporting for the plugin library: through the logger TensorRT hands over (setLoggerFinder), else
// TensorRT's global logger, else stderr. Plugin methods are noexcept, so this is the only way a reason reaches
// the user.
#ifndef TRTCONVERT_PLUGINS_COMMON_PLUGIN_LOGGING_H
#define TRTCONVERT_PLUGINS_COMMON_PLUGIN_LOGGING_H

#include <string>

#include <NvInferRuntime.h>

namespace trtconvert {
namespace plugins {

void set_logger_finder(nvinfer1::ILoggerFinder* finder) noexcept;

// TensorRT's getLogger(), resolved at load time like getPluginRegistry() (see registration.cpp).
void set_global_logger_source(nvinfer1::ILogger* (*get_logger)() noexcept) noexcept;

void log_error(std::string const& message) noexcept;
void log_warning(std::string const& message) noexcept;

}  // namespace plugins
}  // namespace trtconvert

#endif  // TRTCONVERT_PLUGINS_COMMON_PLUGIN_LOGGING_H
