//go:build ignore

// vulncheck-verdict reads `govulncheck -format json` on stdin, prints one
// line per vulnerability found and exits 1 if a dependency's vulnerable
// symbol is called. Standard library findings fail only with -stdlib fail;
// they are fixed by a newer Go toolchain. Used by scripts/vulncheck.sh.
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
)

// message is one object of govulncheck's JSON stream (the fields read here).
type message struct {
	Config *struct {
		ScannerVersion string `json:"scanner_version"`
		GoVersion      string `json:"go_version"`
		DB             string `json:"db"`
	} `json:"config"`
	OSV *struct {
		ID      string `json:"id"`
		Summary string `json:"summary"`
	} `json:"osv"`
	Finding *struct {
		OSV          string `json:"osv"`
		FixedVersion string `json:"fixed_version"`
		Trace        []struct {
			Module   string `json:"module"`
			Version  string `json:"version"`
			Package  string `json:"package"`
			Function string `json:"function"`
			Receiver string `json:"receiver"`
		} `json:"trace"`
	} `json:"finding"`
}

// vuln is what is known of one vulnerability after the whole stream.
type vuln struct {
	id, module, version, fixed string
	level                      int // 0 required, 1 imported, 2 called
	symbols                    []string
}

var levels = []string{"required, not imported", "imported, not called", "CALLED"}

func main() {
	stdlib := flag.String("stdlib", "report", "report or fail: what standard library findings do")
	flag.Parse()
	if *stdlib != "report" && *stdlib != "fail" {
		fmt.Fprintln(os.Stderr, "vulncheck-verdict: -stdlib must be report or fail")
		os.Exit(2)
	}
	summaries := map[string]string{}
	vulns := map[string]*vuln{}
	header := ""
	dec := json.NewDecoder(os.Stdin)
	for {
		var m message
		err := dec.Decode(&m)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "vulncheck-verdict: reading govulncheck output: %v\n", err)
			os.Exit(2)
		}
		switch {
		case m.Config != nil:
			header = fmt.Sprintf("govulncheck %s, %s, db %s", m.Config.ScannerVersion, m.Config.GoVersion, m.Config.DB)
		case m.OSV != nil:
			summaries[m.OSV.ID] = m.OSV.Summary
		case m.Finding != nil && len(m.Finding.Trace) > 0:
			f, top := m.Finding, m.Finding.Trace[0]
			v := vulns[f.OSV]
			if v == nil {
				v = &vuln{id: f.OSV, module: top.Module, version: top.Version, fixed: f.FixedVersion}
				vulns[f.OSV] = v
			}
			level := 0
			if top.Package != "" {
				level = 1
			}
			if top.Function != "" {
				level = 2
				sym := top.Package + "." + top.Function
				if top.Receiver != "" {
					sym = top.Package + "." + strings.TrimPrefix(top.Receiver, "*") + "." + top.Function
				}
				if !slices.Contains(v.symbols, sym) {
					v.symbols = append(v.symbols, sym)
				}
			}
			v.level = max(v.level, level)
		}
	}
	if header == "" {
		fmt.Fprintln(os.Stderr, "vulncheck-verdict: no govulncheck output (no config message)")
		os.Exit(2)
	}
	fmt.Println(header)

	ids := make([]string, 0, len(vulns))
	for id := range vulns {
		ids = append(ids, id)
	}
	slices.SortFunc(ids, func(a, b string) int {
		if d := vulns[b].level - vulns[a].level; d != 0 {
			return d
		}
		return strings.Compare(a, b)
	})
	failed, stdCalled := 0, 0
	for _, id := range ids {
		v := vulns[id]
		fixed := v.fixed
		if fixed == "" {
			fixed = "no fix yet"
		}
		verdict := "note"
		if v.level == 2 {
			switch {
			case v.module != "stdlib":
				verdict, failed = "FAIL", failed+1
			case *stdlib == "fail":
				verdict, failed, stdCalled = "FAIL", failed+1, stdCalled+1
			default:
				verdict, stdCalled = "stdlib", stdCalled+1
			}
		}
		slices.Sort(v.symbols)
		syms := ""
		if len(v.symbols) > 0 {
			syms = " via " + strings.Join(v.symbols[:min(3, len(v.symbols))], ", ")
			if len(v.symbols) > 3 {
				syms += fmt.Sprintf(" and %d more", len(v.symbols)-3)
			}
		}
		fmt.Printf("%-6s %s %s@%s (%s; fixed in %s)%s: %s\n", verdict, id, v.module, v.version, levels[v.level], fixed,
			syms, summaries[id])
	}
	switch {
	case failed > 0:
		fmt.Printf("%d called vulnerabilities in dependencies fail the scan: upgrade the module to the fixed version (go get mod@version)\n", failed)
		os.Exit(1)
	case stdCalled > 0:
		fmt.Printf("no called vulnerability in dependencies; %d in the standard library, fixed by a newer Go toolchain\n", stdCalled)
	default:
		fmt.Println("no vulnerabilities called")
	}
}
