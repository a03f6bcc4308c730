// Command runc-wrapper lets privileged containers and negative OOM scores run
// on hosts whose processes lack CAP_SYS_RESOURCE (see docs/offline.md).
//
// It is installed as Docker's default runtime on the host and as the runc
// binary of containerd inside each kind node. For `create` and `run` it
// rewrites <bundle>/config.json, for `exec` the --process file:
// CAP_SYS_RESOURCE is removed from every capability set and a negative
// oomScoreAdj is raised to 0. Then it execs the real runc with the same
// arguments. Every other command passes through untouched.
package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

const dropped = "CAP_SYS_RESOURCE"

// realRuncCandidates are tried in order; EDGELAB_REAL_RUNC overrides them.
var realRuncCandidates = []string{"/usr/sbin/runc", "/usr/bin/runc", "/usr/local/sbin/runc.real"}

func main() {
	real := findRealRunc()
	if real == "" {
		fmt.Fprintln(os.Stderr, "runc-wrapper: no real runc found (set EDGELAB_REAL_RUNC)")
		os.Exit(127)
	}
	if err := rewrite(os.Args[1:]); err != nil {
		fmt.Fprintf(os.Stderr, "runc-wrapper: %v\n", err)
		os.Exit(1)
	}
	argv := append([]string{real}, os.Args[1:]...)
	if err := syscall.Exec(real, argv, os.Environ()); err != nil {
		fmt.Fprintf(os.Stderr, "runc-wrapper: exec %s: %v\n", real, err)
		os.Exit(126)
	}
}

func findRealRunc() string {
	if p := os.Getenv("EDGELAB_REAL_RUNC"); p != "" {
		if _, err := os.Stat(p); err != nil {
			return ""
		}
		return p
	}
	self, _ := os.Executable()
	for _, c := range realRuncCandidates {
		if st, err := os.Stat(c); err == nil && !st.IsDir() {
			if r, _ := filepath.EvalSymlinks(c); r != "" && r == self {
				continue
			}
			return c
		}
	}
	return ""
}

// globalFlagsWithValue are runc's global options that take a separate value.
var globalFlagsWithValue = map[string]bool{
	"--root": true, "--log": true, "--log-format": true, "--criu": true, "--rootless": true,
}

// rewrite finds the subcommand and the file it reads, and patches that file.
func rewrite(args []string) error {
	i := 0
	for i < len(args) {
		a := args[i]
		if !strings.HasPrefix(a, "-") {
			break
		}
		if globalFlagsWithValue[a] {
			i++
		}
		i++
	}
	if i >= len(args) {
		return nil
	}
	sub, rest := args[i], args[i+1:]
	switch sub {
	case "create", "run":
		bundle := flagValue(rest, "--bundle", "-b")
		if bundle == "" {
			bundle = "."
		}
		return patchFile(filepath.Join(bundle, "config.json"), func(m map[string]any) {
			if p, ok := m["process"].(map[string]any); ok {
				patchProcess(p)
			}
		})
	case "exec":
		if proc := flagValue(rest, "--process", "-p"); proc != "" {
			return patchFile(proc, patchProcess)
		}
	}
	return nil
}

func flagValue(args []string, long, short string) string {
	for j, a := range args {
		if a == "--" {
			break
		}
		for _, name := range []string{long, short} {
			if a == name && j+1 < len(args) {
				return args[j+1]
			}
			if strings.HasPrefix(a, name+"=") {
				return strings.TrimPrefix(a, name+"=")
			}
		}
	}
	return ""
}

func patchProcess(p map[string]any) {
	if caps, ok := p["capabilities"].(map[string]any); ok {
		for set, v := range caps {
			list, ok := v.([]any)
			if !ok {
				continue
			}
			kept := make([]any, 0, len(list))
			for _, c := range list {
				if c != dropped {
					kept = append(kept, c)
				}
			}
			caps[set] = kept
		}
	}
	if adj, ok := p["oomScoreAdj"].(json.Number); ok && strings.HasPrefix(adj.String(), "-") {
		p["oomScoreAdj"] = 0
	}
}

func patchFile(path string, patch func(map[string]any)) error {
	st, err := os.Stat(path)
	if err != nil {
		return nil // nothing to patch; let runc report its own error
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	// UseNumber keeps 64-bit values (limits, uids) exact through the rewrite.
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return fmt.Errorf("parse %s: %w", path, err)
	}
	patch(m)
	out, err := json.Marshal(m)
	if err != nil {
		return err
	}
	return os.WriteFile(path, out, st.Mode().Perm())
}
