// A stand-in for libnvinfer's plugin registry, for plugin_contract_test only. It is built as a library named and
// sonamed like libnvinfer (libnvinfer.so.<major>) so that the plugin library finds it the way it finds the real
// one in a Python process: already loaded, privately (RTLD_LOCAL), by soname. It checks our side of the
// registration contract; it proves nothing about TensorRT itself (the tests marked tensorrt do that).
#include <cstring>
#include <string>
#include <vector>

#include <NvInferRuntime.h>

#include "recording_logger.h"

namespace {

#if NV_TENSORRT_MAJOR >= 10
class StandInRegistry : public nvinfer1::IPluginRegistry {
public:
    bool registerCreator(nvinfer1::IPluginCreatorInterface& creator, char const* pluginNamespace) noexcept override {
        if (find(creator, pluginNamespace) != nullptr) {
            return false;  // TensorRT refuses a second creator with the same name, version and namespace
        }
        mCreators.push_back(&creator);
        mNamespaces.emplace_back(pluginNamespace == nullptr ? "" : pluginNamespace);
        return true;
    }
    nvinfer1::IPluginCreatorInterface* const* getAllCreators(int32_t* const numCreators) const noexcept override {
        *numCreators = static_cast<int32_t>(mCreators.size());
        return mCreators.empty() ? nullptr : mCreators.data();
    }
    nvinfer1::IPluginCreatorInterface* getCreator(char const* const pluginName, char const* const pluginVersion,
                                                  char const* const pluginNamespace) noexcept override {
        for (size_t i = 0; i < mCreators.size(); ++i) {
            auto* creator = static_cast<nvinfer1::IPluginCreatorV3One*>(mCreators[i]);
            if (std::strcmp(creator->getPluginName(), pluginName) == 0 &&
                std::strcmp(creator->getPluginVersion(), pluginVersion) == 0 &&
                mNamespaces[i] == (pluginNamespace == nullptr ? "" : pluginNamespace)) {
                return mCreators[i];
            }
        }
        return nullptr;
    }
    bool deregisterCreator(nvinfer1::IPluginCreatorInterface const& creator) noexcept override {
        for (size_t i = 0; i < mCreators.size(); ++i) {
            if (mCreators[i] == &creator) {
                mCreators.erase(mCreators.begin() + static_cast<std::ptrdiff_t>(i));
                mNamespaces.erase(mNamespaces.begin() + static_cast<std::ptrdiff_t>(i));
                return true;
            }
        }
        return false;
    }
    void setErrorRecorder(nvinfer1::IErrorRecorder* const) noexcept override {}
    nvinfer1::IErrorRecorder* getErrorRecorder() const noexcept override { return nullptr; }
    bool isParentSearchEnabled() const override { return false; }
    void setParentSearchEnabled(bool const) override {}
    PluginLibraryHandle loadLibrary(char const*) noexcept override { return nullptr; }
    void deregisterLibrary(PluginLibraryHandle) noexcept override {}
    nvinfer1::IPluginResource* acquirePluginResource(char const*, nvinfer1::IPluginResource*) noexcept override {
        return nullptr;
    }
    int32_t releasePluginResource(char const*) noexcept override { return 0; }
#if NV_TENSORRT_MAJOR > 10 || (NV_TENSORRT_MAJOR == 10 && NV_TENSORRT_MINOR >= 10)
    nvinfer1::IPluginCreatorInterface* const* getAllCreatorsRecursive(int32_t* const numCreators) noexcept override {
        return getAllCreators(numCreators);
    }
#endif
#if NV_TENSORRT_MAJOR < 11
    // IPluginV2 registration, deprecated in TensorRT 10 and gone in 11; never used by the plugin library.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
    bool registerCreator(nvinfer1::IPluginCreator&, char const* const) noexcept override { return false; }
    nvinfer1::IPluginCreator* const* getPluginCreatorList(int32_t* const numCreators) const noexcept override {
        *numCreators = 0;
        return nullptr;
    }
    nvinfer1::IPluginCreator* getPluginCreator(char const* const, char const* const, char const* const) noexcept override {
        return nullptr;
    }
    bool deregisterCreator(nvinfer1::IPluginCreator const&) noexcept override { return false; }
#pragma GCC diagnostic pop
#endif

private:
    nvinfer1::IPluginCreatorInterface* find(nvinfer1::IPluginCreatorInterface& creator, char const* ns) {
        auto* v3 = static_cast<nvinfer1::IPluginCreatorV3One*>(&creator);
        return getCreator(v3->getPluginName(), v3->getPluginVersion(), ns);
    }

    std::vector<nvinfer1::IPluginCreatorInterface*> mCreators;
    std::vector<std::string> mNamespaces;
};
#else
// TensorRT 8.5 to 9.x: IPluginCreator (V2) registration; loadLibrary from 8.6.
class StandInRegistry : public nvinfer1::IPluginRegistry {
public:
    bool registerCreator(nvinfer1::IPluginCreator& creator, char const* const pluginNamespace) noexcept override {
        char const* ns = pluginNamespace == nullptr ? "" : pluginNamespace;
        if (getPluginCreator(creator.getPluginName(), creator.getPluginVersion(), ns) != nullptr) {
            return false;
        }
        creator.setPluginNamespace(ns);
        mCreators.push_back(&creator);
        return true;
    }
    nvinfer1::IPluginCreator* const* getPluginCreatorList(int32_t* const numCreators) const noexcept override {
        *numCreators = static_cast<int32_t>(mCreators.size());
        return mCreators.empty() ? nullptr : mCreators.data();
    }
    nvinfer1::IPluginCreator* getPluginCreator(char const* const pluginName, char const* const pluginVersion,
                                               char const* const pluginNamespace) noexcept override {
        for (nvinfer1::IPluginCreator* creator : mCreators) {
            if (std::strcmp(creator->getPluginName(), pluginName) == 0 &&
                std::strcmp(creator->getPluginVersion(), pluginVersion) == 0 &&
                std::strcmp(creator->getPluginNamespace(), pluginNamespace == nullptr ? "" : pluginNamespace) == 0) {
                return creator;
            }
        }
        return nullptr;
    }
    bool deregisterCreator(nvinfer1::IPluginCreator const& creator) noexcept override {
        for (size_t i = 0; i < mCreators.size(); ++i) {
            if (mCreators[i] == &creator) {
                mCreators.erase(mCreators.begin() + static_cast<std::ptrdiff_t>(i));
                return true;
            }
        }
        return false;
    }
    void setErrorRecorder(nvinfer1::IErrorRecorder* const) noexcept override {}
    nvinfer1::IErrorRecorder* getErrorRecorder() const noexcept override { return nullptr; }
#if NV_TENSORRT_MAJOR > 8 || NV_TENSORRT_MINOR >= 6
    bool isParentSearchEnabled() const override { return false; }
    void setParentSearchEnabled(bool const) override {}
    PluginLibraryHandle loadLibrary(char const*) noexcept override { return nullptr; }
    void deregisterLibrary(PluginLibraryHandle) noexcept override {}
#endif

private:
    std::vector<nvinfer1::IPluginCreator*> mCreators;
};
#endif

}  // namespace

extern "C" __attribute__((visibility("default"))) nvinfer1::IPluginRegistry* getPluginRegistry() noexcept {
    static StandInRegistry registry;
    return &registry;
}

// TensorRT's global logger; the contract tests read what the plugin library logged through it.
extern "C" __attribute__((visibility("default"))) nvinfer1::ILogger* getLogger() noexcept {
    static RecordingLogger logger;
    return &logger;
}

#if NV_TENSORRT_MAJOR >= 10
extern "C" __attribute__((visibility("default"))) int32_t getInferLibMajorVersion() noexcept { return NV_TENSORRT_MAJOR; }
#endif

// TensorRT's own encoding: major * 1000 + minor * 100 + patch before 10, major * 10000 + ... from 10.
extern "C" __attribute__((visibility("default"))) int32_t getInferLibVersion() noexcept { return NV_TENSORRT_VERSION; }
