// The shared pieces (the CLI, the modules, the registry, Envoy) live in
// internal/harness, which the translate package uses too.
package istio

import (
	"os"
	"testing"

	"github.com/envoy-wasm-sdk/envoy-wasm-sdk/tests/istio/internal/harness"
)

func TestMain(m *testing.M) { os.Exit(harness.Main(m)) }
