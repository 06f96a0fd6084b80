// How libtrtconvert_plugins.so makes its creators known to TensorRT, whichever way it is loaded.
//
// Two conventions exist and the library serves both:
//   * dynamic: IPluginRegistry::loadLibrary (trtexec --dynamicPlugins, plans that carry their plugin library)
//     dlopens the library and calls getCreators()/setLoggerFinder(), then registers what getCreators returns.
//   * static: a plain dlopen (ctypes.CDLL, polygraphy LoadPlugins, trtexec --staticPlugins, Triton, LD_PRELOAD)
//     calls nothing; the library registers its creators itself while it is being loaded.
//
// The library links no TensorRT library, so it builds against TensorRT headers alone and never pins a libnvinfer
// of its own. The registry is found at load time in the process that loads the library: getPluginRegistry() is
// looked up among global symbols (programs linked against libnvinfer, such as trtexec), then in an already loaded
// libnvinfer (Python's tensorrt module loads it privately). When TensorRT is not loaded yet, nothing is registered
// and trtconvert_register_plugins() can be called later.
//
// Both conventions in one library would collide: loadLibrary refuses a library whose creator is already
// registered, and the load-time registration has already done that by the time getCreators runs. So getCreators
// first withdraws the load-time registration, and TensorRT then registers the same creator objects under its own
// bookkeeping (and deregisters them with the library).
#include <dlfcn.h>

#include <cstring>
#include <mutex>

#include <NvInferRuntime.h>

#include "../dynamic_resize/dynamic_resize_plugin.h"
#include "plugin_logging.h"

#define TRTCONVERT_STRINGIFY_IMPL(x) #x
#define TRTCONVERT_STRINGIFY(x) TRTCONVERT_STRINGIFY_IMPL(x)
#define TRTCONVERT_EXPORT extern "C" __attribute__((visibility("default")))

namespace trtconvert {
namespace plugins {
namespace {

using GetRegistryFn = nvinfer1::IPluginRegistry* (*)() noexcept;
using GetLoggerFn = nvinfer1::ILogger* (*)() noexcept;

// TensorRT libraries that export getPluginRegistry, for the major version the library was compiled against: the
// registry's virtual table is only compatible within one major version.
constexpr char const* kTensorRTLibraries[] = {
    "libnvinfer.so." TRTCONVERT_STRINGIFY(NV_TENSORRT_MAJOR),
    "libnvinfer_lean.so." TRTCONVERT_STRINGIFY(NV_TENSORRT_MAJOR),
    "libnvinfer_dispatch.so." TRTCONVERT_STRINGIFY(NV_TENSORRT_MAJOR),
};

void* find_tensorrt_symbol(char const* name) {
    if (void* symbol = dlsym(RTLD_DEFAULT, name)) {
        return symbol;
    }
    for (char const* library : kTensorRTLibraries) {
        // RTLD_NOLOAD: only a libnvinfer that is already in the process, never a second copy of our choosing.
        void* handle = dlopen(library, RTLD_LAZY | RTLD_NOLOAD);
        if (handle == nullptr) {
            continue;
        }
        void* symbol = dlsym(handle, name);
        // The library stays loaded: its owner holds a reference; this drops only the one NOLOAD took.
        dlclose(handle);
        if (symbol != nullptr) {
            return symbol;
        }
    }
    return nullptr;
}

template <typename Fn>
Fn symbol_as(void* symbol) {
    Fn function = nullptr;
    static_assert(sizeof(function) == sizeof(symbol), "function and data pointers differ in size");
    std::memcpy(&function, &symbol, sizeof(function));
    return function;
}

nvinfer1::IPluginCreatorInterface* const* creator_list(int32_t* count) {
    static nvinfer1::IPluginCreatorInterface* const creators[] = {&dynamic_resize_creator()};
    *count = static_cast<int32_t>(sizeof(creators) / sizeof(creators[0]));
    return creators;
}

struct StaticRegistration {
    std::mutex mutex;
    nvinfer1::IPluginRegistry* registry = nullptr;
    int32_t registered = 0;       // creators registered by us in `registry`
    bool loader_owned = false;  // getCreators handed the creators to TensorRT's loadLibrary
};

StaticRegistration& static_registration() {
    static StaticRegistration state;
    return state;
}

int32_t register_with_process_registry() noexcept {
    try {
        StaticRegistration& state = static_registration();
        std::lock_guard<std::mutex> lock(state.mutex);
        if (state.loader_owned) {
            int32_t count = 0;
            creator_list(&count);
            return count;
        }
        if (state.registered > 0) {
            return state.registered;
        }
        if (void* get_logger = find_tensorrt_symbol("getLogger")) {
            set_global_logger_source(symbol_as<GetLoggerFn>(get_logger));
        }
        void* get_registry = find_tensorrt_symbol("getPluginRegistry");
        if (get_registry == nullptr) {
            return 0;
        }
        nvinfer1::IPluginRegistry* registry = symbol_as<GetRegistryFn>(get_registry)();
        if (registry == nullptr) {
            return 0;
        }
        int32_t count = 0;
        nvinfer1::IPluginCreatorInterface* const* creators = creator_list(&count);
        int32_t registered = 0;
        for (int32_t i = 0; i < count; ++i) {
            if (registry->registerCreator(*creators[i], "")) {
                ++registered;
            } else {
                // Another copy of this library (or another library) already provides the creator.
                log_warning("a plugin creator of this library is already registered; keeping the existing one");
            }
        }
        state.registry = registry;
        state.registered = registered;
        return registered;
    } catch (...) {
        return 0;
    }
}

void withdraw_static_registration() noexcept {
    try {
        StaticRegistration& state = static_registration();
        std::lock_guard<std::mutex> lock(state.mutex);
        state.loader_owned = true;
        if (state.registry == nullptr || state.registered == 0) {
            return;
        }
        int32_t count = 0;
        nvinfer1::IPluginCreatorInterface* const* creators = creator_list(&count);
        for (int32_t i = 0; i < count; ++i) {
            state.registry->deregisterCreator(*creators[i]);
        }
        state.registered = 0;
    } catch (...) {
    }
}

// Runs while the library is being loaded.
__attribute__((constructor)) void register_on_load() { register_with_process_registry(); }

}  // namespace
}  // namespace plugins
}  // namespace trtconvert

TRTCONVERT_EXPORT nvinfer1::IPluginCreatorInterface* const* getCreators(int32_t& nbCreators) {
    trtconvert::plugins::withdraw_static_registration();
    return trtconvert::plugins::creator_list(&nbCreators);
}

TRTCONVERT_EXPORT void setLoggerFinder(nvinfer1::ILoggerFinder* finder) {
    trtconvert::plugins::set_logger_finder(finder);
}

// Registers the creators with the process's TensorRT plugin registry if loading did not (TensorRT was not loaded
// yet); returns how many creators this library has registered there, 0 when TensorRT is still not loaded.
TRTCONVERT_EXPORT int32_t trtconvert_register_plugins() { return trtconvert::plugins::register_with_process_registry(); }

// The TensorRT version whose headers the library was compiled against, as major * 10000 + minor * 100 + patch.
// A loader compares its major with the running TensorRT's: the interfaces' virtual tables differ across majors.
TRTCONVERT_EXPORT int32_t trtconvert_plugins_tensorrt_version() { return static_cast<int32_t>(NV_TENSORRT_VERSION); }
