#include "platform/embed_log.h"

#include <spdlog/sinks/base_sink.h>
#include <spdlog/spdlog.h>

#include <memory>
#include <mutex>
#include <string>

namespace sluice::platform {

namespace {

int to_sluice_level(spdlog::level::level_enum level) {
  switch (level) {
    case spdlog::level::trace: return SLUICE_LOG_TRACE;
    case spdlog::level::debug: return SLUICE_LOG_DEBUG;
    case spdlog::level::info: return SLUICE_LOG_INFO;
    case spdlog::level::warn: return SLUICE_LOG_WARN;
    default: return SLUICE_LOG_ERROR;
  }
}

spdlog::level::level_enum to_spdlog_level(int level) {
  switch (level) {
    case SLUICE_LOG_TRACE: return spdlog::level::trace;
    case SLUICE_LOG_DEBUG: return spdlog::level::debug;
    case SLUICE_LOG_INFO: return spdlog::level::info;
    case SLUICE_LOG_WARN: return spdlog::level::warn;
    case SLUICE_LOG_ERROR: return spdlog::level::err;
    default: return spdlog::level::off;
  }
}

// base_sink<std::mutex> serialises sink_it_, which is what the header promises the host: no
// two callback calls at once.
class CallbackSink final : public spdlog::sinks::base_sink<std::mutex> {
 public:
  void set(sluice_log_fn fn, void* context) {
    std::lock_guard lock(mutex_);
    fn_ = fn;
    context_ = context;
  }

 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    if (fn_ == nullptr) return;
    text_.assign(msg.payload.data(), msg.payload.size());
    fn_(context_, to_sluice_level(msg.level), text_.c_str());
  }
  void flush_() override {}

 private:
  sluice_log_fn fn_ = nullptr;
  void* context_ = nullptr;
  std::string text_;  // reused under the sink's lock
};

std::once_flag installed;
std::shared_ptr<CallbackSink> sink;
std::shared_ptr<spdlog::logger> logger;

}  // namespace

void install_embed_logger() {
  std::call_once(installed, [] {
    sink = std::make_shared<CallbackSink>();
    logger = std::make_shared<spdlog::logger>("sluice", sink);
    logger->set_level(spdlog::level::off);
    spdlog::set_default_logger(logger);
  });
}

bool set_embed_log_callback(sluice_log_fn fn, void* context, int min_level) {
  if (min_level < SLUICE_LOG_TRACE || min_level > SLUICE_LOG_OFF) return false;
  install_embed_logger();
  sink->set(fn, context);
  logger->set_level(fn == nullptr ? spdlog::level::off : to_spdlog_level(min_level));
  return true;
}

}  // namespace sluice::platform
