// How libtrtconvert_plugins.so makes its creators known to TensorRT, whichever way it is loaded.
//
// The library is compiled against one TensorRT's headers and holds the plugin interface that version wants:
// IPluginV3 creators from TensorRT 10, IPluginV2DynamicExt creators (IPluginCreator) for 8.5 to 9.x.
//
// Two conventions exist and the library serves both:
//   * dynamic: IPluginRegistry::loadLibrary (TensorRT 8.6 and newer; trtexec --dynamicPlugins, plans that carry
//     their plugin library) dlopens the library and calls getCreators() (getPluginCreators() for V2 creators)
//     and setLoggerFinder(), then registers what it returned.
//   * static: a plain dlopen (ctypes.CDLL, polygraphy LoadPlugins, trtexec --staticPlugins, Triton, LD_PRELOAD)
//     calls nothing; the library registers its creators itself while it is being loaded.
//
// The library needs no TensorRT library to build or link, so it builds against TensorRT headers alone. The
// registry is found at load time in the process that loads the library, for the TensorRT major version the
// library was compiled against: getPluginRegistry() among global symbols (programs linked against libnvinfer,
// such as trtexec), else in a libnvinfer that is already loaded privately (Python's tensorrt module), else in
// libnvinfer.so.<major> loaded from the default library search path (a library loaded before TensorRT, e.g. by
// polygraphy's LoadPlugins before it imports tensorrt, or through LD_PRELOAD). When none is found, nothing is
// registered and trtconvert_register_plugins() can be called once TensorRT is loaded.
//
// Both conventions in one library would collide: loadLibrary refuses a library whose creator is already
// registered, and the load-time registration has already done that by the time getCreators runs. So getCreators
// first withdraws the load-time registration, and TensorRT then registers the same creator objects under its own
// bookkeeping (and deregisters them with the library).
#include <dlfcn.h>

#include <cstring>
#include <mutex>

#include <NvInferRuntime.h>

#if NV_TENSORRT_MAJOR >= 10
#include "../dynamic_resize/dynamic_resize_plugin.h"
#else
#include "../dynamic_resize/dynamic_resize_plugin_v2.h"
#endif
#include "plugin_logging.h"

#define TRTCONVERT_STRINGIFY_IMPL(x) #x
#define TRTCONVERT_STRINGIFY(x) TRTCONVERT_STRINGIFY_IMPL(x)
#define TRTCONVERT_EXPORT extern "C" __attribute__((visibility("default")))

namespace trtconvert {
namespace plugins {
namespace {

using GetRegistryFn = nvinfer1::IPluginRegistry* (*)() noexcept;
using GetLoggerFn = nvinfer1::ILogger* (*)() noexcept;
using GetVersionFn = int32_t (*)() noexcept;

#if NV_TENSORRT_MAJOR >= 10
using Creator = nvinfer1::IPluginCreatorInterface;
#else
using Creator = nvinfer1::IPluginCreator;
#endif

// What trtconvert_plugins_tensorrt_version reports, in one format for every TensorRT (TensorRT's own
// NV_TENSORRT_VERSION weighs the major by 1000 before 10 and by 10000 from 10).
constexpr int32_t kCompiledVersion = NV_TENSORRT_MAJOR * 10000 + NV_TENSORRT_MINOR * 100 + NV_TENSORRT_PATCH;

// TensorRT libraries that export getPluginRegistry. The registry's virtual table is only compatible within one
// major version, so only the compiled-against major is used.
constexpr char const* kFullLibrary = "libnvinfer.so." TRTCONVERT_STRINGIFY(NV_TENSORRT_MAJOR);
constexpr char const* kTensorRTLibraries[] = {
    kFullLibrary,
    "libnvinfer_lean.so." TRTCONVERT_STRINGIFY(NV_TENSORRT_MAJOR),
    "libnvinfer_dispatch.so." TRTCONVERT_STRINGIFY(NV_TENSORRT_MAJOR),
};

template <typename Fn>
Fn symbol_as(void* symbol);

struct TensorRTEntryPoints {
    GetRegistryFn registry = nullptr;
    GetLoggerFn logger = nullptr;
};

// The major version of the TensorRT library visible through `scope`, 0 if there is none.
int32_t runtime_major(void* scope) {
    if (void* major = dlsym(scope, "getInferLibMajorVersion")) {  // TensorRT 10 and newer
        return symbol_as<GetVersionFn>(major)();
    }
    if (void* version = dlsym(scope, "getInferLibVersion")) {
        int32_t const value = symbol_as<GetVersionFn>(version)();
        return value >= 100000 ? value / 10000 : value / 1000;
    }
    return 0;
}

// The entry points visible through `scope` (RTLD_DEFAULT or a library handle), if they are TensorRT's of the
// compiled-against major version.
bool entry_points_in(void* scope, TensorRTEntryPoints* found) {
    void* registry = dlsym(scope, "getPluginRegistry");
    if (registry == nullptr || runtime_major(scope) != NV_TENSORRT_MAJOR) {
        return false;
    }
    found->registry = symbol_as<GetRegistryFn>(registry);
    found->logger = symbol_as<GetLoggerFn>(dlsym(scope, "getLogger"));
    return true;
}

bool find_tensorrt(TensorRTEntryPoints* found) {
    if (entry_points_in(RTLD_DEFAULT, found)) {
        return true;
    }
    for (char const* library : kTensorRTLibraries) {
        // RTLD_NOLOAD: a TensorRT library that is already in the process, however privately it was loaded.
        void* handle = dlopen(library, RTLD_LAZY | RTLD_NOLOAD);
        if (handle == nullptr) {
            continue;
        }
        bool const usable = entry_points_in(handle, found);
        // The library stays loaded (its owner holds a reference); this drops only the one RTLD_NOLOAD took.
        dlclose(handle);
        if (usable) {
            return true;
        }
    }
    // No TensorRT in the process yet: load the one the default search path gives. A later `import tensorrt` or
    // libnvinfer user with the same soname gets this same instance, and with it these registrations. The handle
    // is kept: the library must stay loaded as long as our creators are registered in it.
    void* handle = dlopen(kFullLibrary, RTLD_LAZY | RTLD_LOCAL);
    return handle != nullptr && entry_points_in(handle, found);
}

template <typename Fn>
Fn symbol_as(void* symbol) {
    Fn function = nullptr;
    static_assert(sizeof(function) == sizeof(symbol), "function and data pointers differ in size");
    std::memcpy(&function, &symbol, sizeof(function));
    return function;
}

Creator* const* creator_list(int32_t* count) {
    static Creator* const creators[] = {&dynamic_resize_creator()};
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
        TensorRTEntryPoints tensorrt;
        if (!find_tensorrt(&tensorrt)) {
            return 0;
        }
        if (tensorrt.logger != nullptr) {
            set_global_logger_source(tensorrt.logger);
        }
        nvinfer1::IPluginRegistry* registry = tensorrt.registry();
        if (registry == nullptr) {
            return 0;
        }
        int32_t count = 0;
        Creator* const* creators = creator_list(&count);
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
        Creator* const* creators = creator_list(&count);
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

#if NV_TENSORRT_MAJOR >= 10
TRTCONVERT_EXPORT nvinfer1::IPluginCreatorInterface* const* getCreators(int32_t& nbCreators) {
    trtconvert::plugins::withdraw_static_registration();
    return trtconvert::plugins::creator_list(&nbCreators);
}
#else
TRTCONVERT_EXPORT nvinfer1::IPluginCreator* const* getPluginCreators(int32_t& nbCreators) {
    trtconvert::plugins::withdraw_static_registration();
    return trtconvert::plugins::creator_list(&nbCreators);
}
#endif

#if TRTCONVERT_HAS_LOGGER_FINDER
TRTCONVERT_EXPORT void setLoggerFinder(nvinfer1::ILoggerFinder* finder) {
    trtconvert::plugins::set_logger_finder(finder);
}
#endif

// Registers the creators with the process's TensorRT plugin registry if loading did not (TensorRT was not loaded
// yet); returns how many creators this library has registered there, 0 when TensorRT is still not loaded.
TRTCONVERT_EXPORT int32_t trtconvert_register_plugins() { return trtconvert::plugins::register_with_process_registry(); }

// The TensorRT version whose headers the library was compiled against, as major * 10000 + minor * 100 + patch.
// A loader compares its major with the running TensorRT's: the interfaces' virtual tables differ across majors.
TRTCONVERT_EXPORT int32_t trtconvert_plugins_tensorrt_version() { return trtconvert::plugins::kCompiledVersion; }
