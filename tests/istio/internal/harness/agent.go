package harness

import (
	"os"
	"testing"

	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	httpwasm "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/wasm/v3"
	"google.golang.org/protobuf/types/known/anypb"

	"istio.io/istio/pkg/wasm"
)

// NewCache is the agent's module cache (pkg/wasm/cache.go, LocalFileCache) in a folder of
// its own, removed when the test ends. Zero Options take the agent's defaults (options.go,
// defaultOptions). A fresh cache per call: the cache would otherwise answer from what an
// earlier call stored.
func NewCache(t testing.TB) *wasm.LocalFileCache {
	t.Helper()
	c := wasm.NewLocalFileCache(t.TempDir(), wasm.Options{})
	t.Cleanup(c.Cleanup)
	return c
}

// ConvertECDS runs the agent's conversion (pkg/wasm/convert.go,
// MaybeConvertWasmExtensionConfig, as pkg/istio-agent/xds_proxy.go calls it on each ECDS
// response) with a fresh cache (NewCache): each module is pulled, checked against its
// sha256 and written to a local file, which the resources now name; a module that cannot
// be fetched turns its resource into an RBAC filter.
func ConvertECDS(t testing.TB, resources []*anypb.Any) {
	t.Helper()
	if err := wasm.MaybeConvertWasmExtensionConfig(resources, NewCache(t)); err != nil {
		t.Fatalf("MaybeConvertWasmExtensionConfig: %v", err)
	}
}

// ExtensionConfig is the extension config an ECDS resource holds.
func ExtensionConfig(t testing.TB, r *anypb.Any) *core.TypedExtensionConfig {
	t.Helper()
	ec := &core.TypedExtensionConfig{}
	if err := r.UnmarshalTo(ec); err != nil {
		t.Fatal(err)
	}
	return ec
}

// WasmOf is the extension config an ECDS resource holds and the Wasm HTTP filter in it;
// the test fails if it holds another filter (the agent substitutes RBAC when the fetch
// fails).
func WasmOf(t testing.TB, r *anypb.Any) (*core.TypedExtensionConfig, *httpwasm.Wasm) {
	t.Helper()
	ec := ExtensionConfig(t, r)
	w := &httpwasm.Wasm{}
	if err := ec.GetTypedConfig().UnmarshalTo(w); err != nil {
		t.Fatalf("%s holds %s, not the Wasm HTTP filter (the agent substitutes RBAC when the fetch fails; its log is above)",
			ec.GetName(), ec.GetTypedConfig().GetTypeUrl())
	}
	return ec, w
}

// LocalModule is the file the code of a converted filter names, and what it holds; the
// test fails if the code is still remote (ConvertECDS did not rewrite it).
func LocalModule(t testing.TB, w *httpwasm.Wasm) (string, []byte) {
	t.Helper()
	file := w.GetConfig().GetVmConfig().GetCode().GetLocal().GetFilename()
	if file == "" {
		t.Fatalf("the agent left the code remote: %v", w.GetConfig().GetVmConfig().GetCode())
	}
	got, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	return file, got
}
