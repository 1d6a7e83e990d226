package runners_test

import (
	"flag"
	"strings"
	"testing"

	"github.com/dpmr/dpmr/runners"
	"github.com/dpmr/dpmr/runners/runnertest"
)

// validateFlags are the flags Validate reads; every case sets them all,
// so no case sees another's values or the process's.
var validateFlags = []string{"runner", "endpoint", "environment_type", "project", "region", "staging_location", "dry_run", "async"}

func TestValidate(t *testing.T) {
	dataflow := map[string]string{"runner": "dataflow", "project": "p", "region": "us-central1", "staging_location": "gs://b/staging"}
	cases := []struct {
		name  string
		flags map[string]string
		want  string // a part of the error; "" for valid
	}{
		{"default is direct", nil, ""},
		{"prism", map[string]string{"runner": "prism"}, ""},
		{"prism with an external endpoint", map[string]string{"runner": "prism", "endpoint": "localhost:8073"}, ""},
		{"direct", map[string]string{"runner": "direct"}, ""},
		{"names ignore case and spaces", map[string]string{"runner": " Direct "}, ""},
		{"universal", map[string]string{"runner": "universal", "endpoint": "localhost:8073", "environment_type": "LOOPBACK"}, ""},
		{"flink", map[string]string{"runner": "flink", "endpoint": "flink-jobserver:8099", "environment_type": "DOCKER"}, ""},
		{"spark", map[string]string{"runner": "spark", "endpoint": "[::1]:8099", "environment_type": "process"}, ""},
		{"universal, default environment", map[string]string{"runner": "universal", "endpoint": "localhost:8099"}, ""},
		{"dataflow", dataflow, ""},
		{"dataflow with a docker environment", with(dataflow, "environment_type", "DOCKER"), ""},
		{"dataflow dry run", with(dataflow, "dry_run", "true"), ""},

		{"unknown runner", map[string]string{"runner": "sparkk"}, "--runner=sparkk is not one of direct (default), prism, universal, flink, spark, dataflow"},
		{"universal without endpoint", map[string]string{"runner": "universal"}, "--runner=universal needs --endpoint=HOST:PORT"},
		{"flink without endpoint", map[string]string{"runner": "flink"}, "--runner=flink needs --endpoint=HOST:PORT"},
		{"spark without endpoint", map[string]string{"runner": "spark", "environment_type": "LOOPBACK"}, "--runner=spark needs --endpoint=HOST:PORT"},
		{"endpoint without port", map[string]string{"runner": "universal", "endpoint": "localhost"}, "--endpoint=localhost is not HOST:PORT"},
		{"endpoint with a bad port", map[string]string{"runner": "flink", "endpoint": "localhost:80990"}, "--endpoint=localhost:80990 is not HOST:PORT"},
		{"endpoint as a URL", map[string]string{"runner": "universal", "endpoint": "http://localhost:8099"}, "is not HOST:PORT"},
		{"unknown environment", map[string]string{"runner": "universal", "endpoint": "localhost:8073", "environment_type": "LOOPBAK"}, "--environment_type=LOOPBAK is not one of DOCKER (the default), PROCESS, EXTERNAL, LOOPBACK"},
		{"dataflow without anything", map[string]string{"runner": "dataflow"}, "--runner=dataflow needs --project, --region, --staging_location"},
		{"dataflow without project", with(dataflow, "project", ""), "--runner=dataflow needs --project"},
		{"dataflow without region", with(dataflow, "region", ""), "--runner=dataflow needs --region"},
		{"dataflow without staging", with(dataflow, "staging_location", ""), "--runner=dataflow needs --staging_location"},
		{"dataflow without region and staging", with(with(dataflow, "region", ""), "staging_location", ""), "--runner=dataflow needs --region, --staging_location"},
		{"dataflow with local staging", with(dataflow, "staging_location", "/tmp/staging"), "--staging_location=/tmp/staging must be a gs:// path"},
		{"dataflow with loopback", with(dataflow, "environment_type", "LOOPBACK"), "--environment_type=LOOPBACK cannot be used with --runner=dataflow"},
		{"async on the default", map[string]string{"async": "true"}, "--async cannot be used"},
		{"async on prism", map[string]string{"runner": "prism", "async": "true"}, "--async cannot be used"},
		{"async on direct", map[string]string{"runner": "direct", "async": "true"}, "--async cannot be used"},
		{"async on universal", map[string]string{"runner": "universal", "endpoint": "localhost:8073", "async": "true"}, "--async cannot be used"},
		{"async on dataflow", with(dataflow, "async", "true"), "--async cannot be used"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			values := map[string]string{}
			for _, name := range validateFlags {
				values[name] = ""
			}
			values["async"], values["dry_run"] = "false", "false"
			for name, v := range tc.flags {
				values[name] = v
			}
			restore, err := runnertest.SetFlags(values)
			if err != nil {
				t.Fatal(err)
			}
			defer restore()
			err = runners.Validate()
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("Validate() = %v, want no error", err)
			case tc.want != "" && err == nil:
				t.Fatalf("Validate() = nil, want an error containing %q", tc.want)
			case tc.want != "" && !strings.Contains(err.Error(), tc.want):
				t.Fatalf("Validate() = %q, want it to contain %q", err, tc.want)
			}
		})
	}
}

// with returns a copy of m with name set to v.
func with(m map[string]string, name, v string) map[string]string {
	out := map[string]string{name: v}
	for k, x := range m {
		if k != name {
			out[k] = x
		}
	}
	return out
}

func TestName(t *testing.T) {
	for runner, want := range map[string]string{"": "direct", "  ": "direct", "Flink": "flink", " dataflow": "dataflow"} {
		restore, err := runnertest.SetFlags(map[string]string{"runner": runner})
		if err != nil {
			t.Fatal(err)
		}
		if got := runners.Name(); got != want {
			t.Errorf("--runner=%q: Name() = %q, want %q", runner, got, want)
		}
		restore()
	}
}

func TestSetFlagsRestores(t *testing.T) {
	restore, err := runnertest.SetFlags(map[string]string{"endpoint": "before:1"})
	if err != nil {
		t.Fatal(err)
	}
	defer restore()
	inner, err := runnertest.SetFlags(map[string]string{"endpoint": "after:2", "async": "true"})
	if err != nil {
		t.Fatal(err)
	}
	if got := flag.Lookup("endpoint").Value.String(); got != "after:2" {
		t.Errorf("--endpoint = %q, want after:2", got)
	}
	inner()
	if _, err := runnertest.SetFlags(map[string]string{"endpoint": "x:3", "no_such_flag": "1"}); err == nil {
		t.Error("SetFlags with an unknown flag: no error")
	}
	if _, err := runnertest.SetFlags(map[string]string{"endpoint": "x:3", "async": "maybe"}); err == nil {
		t.Error("SetFlags with a bad value: no error")
	}
	for name, want := range map[string]string{"endpoint": "before:1", "async": "false"} {
		if got := flag.Lookup(name).Value.String(); got != want {
			t.Errorf("--%s = %q after restore, want %q", name, got, want)
		}
	}
}
