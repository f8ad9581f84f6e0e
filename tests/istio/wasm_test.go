// Images made by `cargo envoy-wasm package`, pushed to a real registry, fetched with the
// code Istio's agent (pilot-agent) runs: istio.io/istio/pkg/wasm.
//
// What the agent does (istio.io/istio@v0.0.0-20260827124520-eed52ebb66ad):
//   - pkg/istio-agent/xds_proxy.go: `wasm.NewLocalFileCache(constants.IstioDataDir,
//     ia.cfg.WASMOptions)`, and for every ECDS response
//     `wasm.MaybeConvertWasmExtensionConfig(resp.Resources, p.wasmCache)`.
//   - pkg/wasm/convert.go, rewriteVMConfig: takes vm_config.code.remote (http_uri.uri is
//     the WasmPlugin's `url`, sha256 its `sha256`; "nil" means unset), calls
//     `cache.Get(uri, GetOptions{Checksum: sha256, RequestTimeout: http_uri.timeout, ...})`
//     and rewrites the code to a local filename. On any fetch error the extension config is
//     replaced by an RBAC filter: allow-all for FAIL_OPEN, deny-all otherwise.
//   - pkg/wasm/cache.go, getOrFetch: for oci:// it calls ImageFetcher.PrepareFetch, which
//     returns the *manifest* digest; a non-empty Checksum must equal that digest's hex
//     ("module downloaded from ... has checksum ..., which does not match: ..."). The
//     checksum is compared before the module is downloaded. The bytes must start with the
//     Wasm magic (isValidWasmBinary). With no Checksum and a `@sha256:` URL, getEntry takes
//     the URL's digest as the checksum, so it is compared the same way (and
//     go-containerregistry's remote.Get checks a by-digest manifest itself).
//   - pkg/wasm/imagefetcher.go, PrepareFetch's binaryFetcher decides the format:
//     1. manifest mediaType Docker schema 2 -> extractDockerImage: last layer must be
//     application/vnd.docker.image.rootfs.diff.tar.gzip holding plugin.wasm;
//     2. else extractOCIStandardImage ("compat"): last layer must be
//     application/vnd.oci.image.layer.v1.tar+gzip holding a file whose base name is
//     plugin.wasm;
//     3. else extractOCIArtifactImage ("oci" variant of the solo.io Wasm image spec): the
//     manifest must have exactly 2 layers, one of them
//     application/vnd.module.wasm.content.layer.v1+wasm, read raw.
//   - Plain HTTP: go-containerregistry's name.Registry.Scheme() picks http for localhost,
//     127.0.0.0/8, ::1, *.local and RFC 1918 addresses, so a loopback registry needs no
//     option. Otherwise PrepareFetch retries with name.Insecure when the error says "server
//     gave HTTP response". Options.InsecureRegistries (env WASM_INSECURE_REGISTRIES in
//     pilot/cmd/pilot-agent/options/options.go) only turns off TLS verification.
//   - The fetch runs under context.WithTimeout(opts.RequestTimeout): a zero RequestTimeout
//     fails at once, so every Get here sets one (convert.go defaults it to 5s, istiod sends
//     30s: pilot/pkg/model/extensions.go, buildDataSource).
package istio

import (
	"crypto/sha256"
	"encoding/hex"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	httprbac "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/rbac/v3"
	httpwasm "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/wasm/v3"
	wasmextensions "github.com/envoyproxy/go-control-plane/envoy/extensions/wasm/v3"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"

	"istio.io/istio/pkg/wasm"

	"github.com/envoy-wasm-sdk/envoy-wasm-sdk/tests/istio/internal/harness"
)

// TestCompatImage: `package --format compat`, the default.
func TestCompatImage(t *testing.T) { testImageFormat(t, "compat") }

// TestArtifactImage: `package --format artifact`, Istio's two-layer Wasm artifact (the "oci"
// variant imagefetcher.go, extractOCIArtifactImage reads: exactly 2 layers, one of them
// application/vnd.module.wasm.content.layer.v1+wasm holding the raw module).
func TestArtifactImage(t *testing.T) { testImageFormat(t, "artifact") }

// wasmLayerMediaType is the module's layer in the Wasm artifact (imagefetcher.go).
const wasmLayerMediaType = "application/vnd.module.wasm.content.layer.v1+wasm"

func testImageFormat(t *testing.T, format string) {
	modPath, modBytes := harness.Module(t, "http_headers")
	reg := harness.StartRegistry(t)
	img := harness.Package(t, "http_headers", modPath, reg+"/http-headers", format, format)
	t.Cleanup(func() {
		if t.Failed() {
			t.Log(describe(img))
		}
	})

	t.Run("image.json records the pushed digest", func(t *testing.T) {
		r := img.Record
		if r.Digest != "sha256:"+img.DigestHex {
			t.Errorf("image.json digest %q, pushed sha256:%s", r.Digest, img.DigestHex)
		}
		if r.Format != format {
			t.Errorf("image.json format %q, want %q", r.Format, format)
		}
		if r.Tag != "http-headers:"+format {
			t.Errorf("image.json tag %q, want http-headers:%s", r.Tag, format)
		}
		if len(r.Pushed) != 1 || r.Pushed[0] != img.Ref() {
			t.Errorf("image.json pushed %q, want [%s]", r.Pushed, img.Ref())
		}
	})

	if format == "artifact" {
		t.Run("the artifact has Istio's two layers", func(t *testing.T) {
			ref, err := name.ParseReference(img.Ref())
			if err != nil {
				t.Fatal(err)
			}
			image, err := remote.Image(ref)
			if err != nil {
				t.Fatal(err)
			}
			layers, err := image.Layers()
			if err != nil {
				t.Fatal(err)
			}
			var types []string
			var module []byte
			for _, l := range layers {
				mt, err := l.MediaType()
				if err != nil {
					t.Fatal(err)
				}
				types = append(types, string(mt))
				if mt == wasmLayerMediaType {
					// Raw, not gzip: read it as imagefetcher.go does (Compressed()).
					rc, err := l.Compressed()
					if err != nil {
						t.Fatal(err)
					}
					module, err = io.ReadAll(rc)
					rc.Close()
					if err != nil {
						t.Fatal(err)
					}
				}
			}
			if len(layers) != 2 || module == nil {
				t.Fatalf("layers %v: Istio wants exactly 2, one of them %s", types, wasmLayerMediaType)
			}
			sameModule(t, module, modBytes)
			t.Logf("layers: %v", types)
		})
	}

	// The manifests, four ways to the digest: the registry (tag → digest), the record, --digest,
	// and a digest reference.
	manifests := map[string][]string{
		"tag":       {"--image", img.TagURL()},
		"record":    {"--image", img.TagURL(), "--record", img.Record.Path},
		"--digest":  {"--image", img.TagURL(), "--digest", "sha256:" + img.DigestHex},
		"digestref": {"--image", img.DigestURL()},
	}
	urls := map[string]string{}
	for _, way := range []string{"tag", "record", "--digest", "digestref"} {
		t.Run("manifests sha256 is the pushed manifest digest ("+way+")", func(t *testing.T) {
			args := append(manifests[way], "--selector", "app=httpbin")
			m := harness.RunManifests(t, "http_headers", args...)
			wp := harness.ParseResource(t, m.WasmPlugin)
			te := harness.ParseResource(t, m.TrafficExtension)
			want := img.TagURL()
			if way == "digestref" {
				want = img.DigestURL()
			}
			if wp.Str("sha256") != img.DigestHex || te.Str("wasm", "sha256") != img.DigestHex {
				t.Errorf("sha256: wasmplugin.yaml %q, trafficextension.yaml %q; pushed manifest digest %s",
					wp.Str("sha256"), te.Str("wasm", "sha256"), img.DigestHex)
			}
			if wp.Str("url") != want || te.Str("wasm", "url") != want {
				t.Errorf("url: wasmplugin.yaml %q, trafficextension.yaml %q; want %s", wp.Str("url"), te.Str("wasm", "url"), want)
			}
			if !strings.Contains(m.EnvoyFilter, img.DigestHex) {
				t.Errorf("envoyfilter.yaml lacks sha256 %s", img.DigestHex)
			}
			urls[way] = wp.Str("url")
		})
	}

	t.Run("PrepareFetch reports the pushed digest", func(t *testing.T) {
		for _, ref := range []string{img.Ref(), img.Repository + "@sha256:" + img.DigestHex} {
			f := wasm.NewImageFetcher(t.Context(), wasm.ImageFetcherOption{})
			fetch, digest, err := f.PrepareFetch(ref)
			if err != nil {
				t.Fatalf("PrepareFetch %s: %v", ref, err)
			}
			if digest != img.DigestHex {
				t.Errorf("%s: Istio sees manifest digest %s, the CLI pushed %s", ref, digest, img.DigestHex)
			}
			got, err := fetch()
			if err != nil {
				t.Fatalf("Istio cannot extract the module from the %s image %s: %v", format, ref, err)
			}
			sameModule(t, got, modBytes)
		}
	})

	t.Run("Get by tag", func(t *testing.T) {
		got, err := get(t, img.TagURL(), wasm.GetOptions{})
		if err != nil {
			t.Fatalf("Get: %v", err)
		}
		sameModule(t, got, modBytes)
	})

	t.Run("Get by digest", func(t *testing.T) {
		got, err := get(t, img.DigestURL(), wasm.GetOptions{})
		if err != nil {
			t.Fatalf("Get: %v", err)
		}
		sameModule(t, got, modBytes)
	})

	t.Run("Get the manifests url with the manifests sha256", func(t *testing.T) {
		for _, way := range []string{"tag", "digestref"} {
			url := urls[way]
			if url == "" {
				t.Fatalf("no manifests (%s)", way)
			}
			got, err := get(t, url, wasm.GetOptions{Checksum: img.DigestHex})
			if err != nil {
				t.Fatalf("Get %s: %v", url, err)
			}
			sameModule(t, got, modBytes)
		}
	})

	t.Run("wrong sha256 is refused", func(t *testing.T) {
		moduleSum := sha256.Sum256(modBytes)
		wrong := map[string]string{
			// The likely mistake: the module's hash where Istio wants the manifest's.
			"module sha256": hex.EncodeToString(moduleSum[:]),
			"one digit off": flipLastHexDigit(img.DigestHex),
		}
		for what, sum := range wrong {
			for _, url := range []string{img.TagURL(), img.DigestURL()} {
				got, err := get(t, url, wasm.GetOptions{Checksum: sum})
				if err == nil {
					t.Errorf("%s, %s: fetched (%d bytes) despite sha256 %s", what, url, len(got), sum)
					continue
				}
				if !strings.Contains(err.Error(), "does not match") {
					t.Errorf("%s, %s: refused, but not for the checksum: %v", what, url, err)
				}
			}
		}
	})

	for _, by := range []string{"tag", "digest"} {
		url := map[string]string{"tag": img.TagURL(), "digest": img.DigestURL()}[by]
		t.Run("ECDS conversion loads the module (url by "+by+")", func(t *testing.T) {
			resources := []*anypb.Any{ecdsResource(t, url, img.DigestHex)}
			harness.ConvertECDS(t, resources)
			_, w := harness.WasmOf(t, resources[0])
			_, got := harness.LocalModule(t, w)
			sameModule(t, got, modBytes)
			if env := w.GetConfig().GetVmConfig().GetEnvironmentVariables(); env != nil {
				t.Errorf("ISTIO_META_* variables left for Envoy: %v", env)
			}
		})
	}

	t.Run("ECDS conversion with a wrong sha256 fails closed", func(t *testing.T) {
		resources := []*anypb.Any{ecdsResource(t, img.TagURL(), flipLastHexDigit(img.DigestHex))}
		harness.ConvertECDS(t, resources)
		ec := harness.ExtensionConfig(t, resources[0])
		rbac := &httprbac.RBAC{}
		if err := ec.GetTypedConfig().UnmarshalTo(rbac); err != nil {
			t.Fatalf("want the deny-all RBAC filter, got %s", ec.GetTypedConfig().GetTypeUrl())
		}
		if rbac.GetRulesStatPrefix() != wasm.DefaultDenyStatPrefix {
			t.Errorf("RBAC stat prefix %q, want %q (deny-all)", rbac.GetRulesStatPrefix(), wasm.DefaultDenyStatPrefix)
		}
	})
}

// get fetches url through a fresh LocalFileCache and returns the module's bytes.
func get(t *testing.T, url string, opts wasm.GetOptions) ([]byte, error) {
	t.Helper()
	if opts.RequestTimeout == 0 {
		opts.RequestTimeout = 30 * time.Second
	}
	path, err := harness.NewCache(t).Get(url, opts)
	if err != nil {
		return nil, err
	}
	return os.ReadFile(path)
}

// ecdsResource is an ECDS resource as istiod sends one for a WasmPlugin
// (pilot/pkg/model/extensions.go: buildWasmConfig, buildDataSource, buildVMConfig). The
// translate package takes istiod's own.
func ecdsResource(t *testing.T, url, sha string) *anypb.Any {
	t.Helper()
	w := &httpwasm.Wasm{Config: &wasmextensions.PluginConfig{
		Name:          "default.http-headers",
		RootId:        "http_headers",
		FailurePolicy: wasmextensions.FailurePolicy_FAIL_CLOSED,
		Vm: &wasmextensions.PluginConfig_VmConfig{VmConfig: &wasmextensions.VmConfig{
			Runtime: "envoy.wasm.runtime.v8",
			Code: &core.AsyncDataSource{Specifier: &core.AsyncDataSource_Remote{Remote: &core.RemoteDataSource{
				HttpUri: &core.HttpUri{
					Uri:              url,
					Timeout:          durationpb.New(30 * time.Second),
					HttpUpstreamType: &core.HttpUri_Cluster{Cluster: "_"},
				},
				Sha256: sha,
			}}},
			EnvironmentVariables: &wasmextensions.EnvironmentVariables{KeyValues: map[string]string{
				"ISTIO_META_WASM_PLUGIN_RESOURCE_VERSION": "1",
			}},
		}},
	}}
	typed, err := anypb.New(w)
	if err != nil {
		t.Fatal(err)
	}
	ec, err := anypb.New(&core.TypedExtensionConfig{Name: "default.http-headers", TypedConfig: typed})
	if err != nil {
		t.Fatal(err)
	}
	return ec
}

func sameModule(t *testing.T, got, want []byte) {
	t.Helper()
	if string(got) != string(want) {
		g, w := sha256.Sum256(got), sha256.Sum256(want)
		t.Errorf("fetched module differs: %d bytes sha256 %x, packaged %d bytes sha256 %x",
			len(got), g, len(want), w)
	}
}

func flipLastHexDigit(h string) string {
	if h == "" {
		return "0"
	}
	last := h[len(h)-1]
	repl := byte('0')
	if last == '0' {
		repl = '1'
	}
	return h[:len(h)-1] + string(repl)
}

// describe is what the registry holds for the image, for failure messages.
func describe(img harness.Image) string {
	ref, err := name.ParseReference(img.Ref())
	if err != nil {
		return err.Error()
	}
	desc, err := remote.Get(ref)
	if err != nil {
		return "cannot read the image back: " + err.Error()
	}
	return "manifest in the registry: " + string(desc.Manifest)
}
