#include "client/lb_client.h"

#include <google/protobuf/empty.pb.h>
#include <grpcpp/grpcpp.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "client/engagement.h"
#include "proto/runner.grpc.pb.h"

namespace fnr::client {
namespace {

bool read_pem(const std::string& what, const std::string& path, std::string* out,
              std::string* error) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    *error = "cannot open " + what + " file " + path + ": " + std::strerror(errno);
    return false;
  }
  std::ostringstream buf;
  buf << in.rdbuf();
  if (in.bad()) {
    *error = "cannot read " + what + " file " + path;
    return false;
  }
  *out = std::move(buf).str();
  return true;
}

}  // namespace

struct LbClient::Impl {
  LbOptions options;
  std::shared_ptr<grpc::Channel> channel;
  std::unique_ptr<RunnerProtocol::Stub> stub;
};

LbClient::LbClient(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
LbClient::~LbClient() = default;

std::unique_ptr<LbClient> LbClient::create(LbOptions options, std::string* error) {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(options.max_receive_bytes);
  // gRPC shares connections between channels with equal arguments; an LB
  // has its own connection per runner, and the bench's --channels N means
  // N connections, so every LbClient gets a private one.
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);

  std::shared_ptr<grpc::ChannelCredentials> creds;
  if (options.tls) {
    grpc::SslCredentialsOptions ssl;
    if (!options.tls->ca.empty() &&
        !read_pem("CA certificate", options.tls->ca, &ssl.pem_root_certs, error)) {
      return nullptr;
    }
    if (!options.tls->cert.empty() &&
        !read_pem("client certificate", options.tls->cert, &ssl.pem_cert_chain, error)) {
      return nullptr;
    }
    if (!options.tls->key.empty() &&
        !read_pem("client key", options.tls->key, &ssl.pem_private_key, error)) {
      return nullptr;
    }
    if (ssl.pem_cert_chain.empty() != ssl.pem_private_key.empty()) {
      *error = "TLS client certificate and key must be given together";
      return nullptr;
    }
    if (!options.tls->server_name.empty()) {
      args.SetSslTargetNameOverride(options.tls->server_name);
    }
    creds = grpc::SslCredentials(ssl);
  } else {
    creds = grpc::InsecureChannelCredentials();
  }

  auto impl = std::make_unique<Impl>();
  impl->channel = grpc::CreateCustomChannel(options.target, creds, args);
  if (!impl->channel) {
    *error = "cannot create a gRPC channel to " + options.target;
    return nullptr;
  }
  impl->stub = RunnerProtocol::NewStub(impl->channel);
  impl->options = std::move(options);
  return std::unique_ptr<LbClient>(new LbClient(std::move(impl)));
}

const LbOptions& LbClient::options() const { return impl_->options; }

CallOutcome LbClient::engage(std::string_view call_json, const BodySource& body,
                             const CallOptions& call_options) {
  Engagement engagement(*impl_->stub, impl_->options, call_options);
  return engagement.run(call_json, body);
}

RunnerStatusReply LbClient::status(std::chrono::milliseconds timeout) {
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + timeout);
  google::protobuf::Empty request;
  RunnerStatus reply;
  const grpc::Status st = impl_->stub->Status(&ctx, request, &reply);
  RunnerStatusReply out;
  out.ok = st.ok();
  out.grpc_code = static_cast<int>(st.error_code());
  out.grpc_message = st.error_message();
  out.active = reply.active();
  out.requests_received = reply.requests_received();
  out.requests_handled = reply.requests_handled();
  return out;
}

bool LbClient::wait_connected(std::chrono::milliseconds timeout) {
  return impl_->channel->WaitForConnected(std::chrono::system_clock::now() + timeout);
}

}  // namespace fnr::client
