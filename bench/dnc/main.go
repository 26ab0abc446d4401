// Command dnc measures the do-not-call set at national scale: it generates
// N numbers (default 100 million) spread over US-style area codes, builds
// the packed set, reports bytes per number and lookup time, and (with
// -file) writes them in the national registry's CSV layout and times
// loading that file.
//
//	go run ./bench/dnc -n 100000000 -file /tmp/dnc.csv
package main

import (
	"bufio"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"slices"
	"time"

	"github.com/tollgate-voip/tollgate/compliance"
)

func main() {
	n := flag.Int("n", 100_000_000, "numbers to generate")
	areas := flag.Int("areas", 800, "area codes to spread them over")
	file := flag.String("file", "", "also write a registry CSV here and time loading it")
	lookups := flag.Int("lookups", 10_000_000, "lookups to time")
	flag.Parse()

	r := rand.New(rand.NewPCG(1, 2))
	per := *n / *areas
	codes := make([]uint64, 0, *areas)
	for a := uint64(201); len(codes) < *areas; a++ {
		if a%100 != 11 && a/10%10 != 9 { // skip N11 and N9X like the plan does
			codes = append(codes, a)
		}
	}
	t0 := time.Now()
	b := compliance.NewBuilder(*n)
	var w *bufio.Writer
	if *file != "" {
		f, err := os.Create(*file)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		defer f.Close()
		w = bufio.NewWriterSize(f, 1<<20)
		defer w.Flush()
		fmt.Fprintln(w, "area_code,phone_number")
	}
	local := make([]uint64, per)
	probes := make([]uint64, 0, 1<<20)
	for _, a := range codes {
		for i := range local {
			local[i] = 2_000_000 + r.Uint64N(8_000_000) // exchange 200–999
		}
		slices.Sort(local)
		local = slices.Compact(local)
		for _, x := range local {
			k := 1_000_0000000 + a*10_000_000 + x
			b.Add(k)
			if len(probes) < cap(probes) && r.IntN(64) == 0 {
				probes = append(probes, k)
			}
			if w != nil {
				fmt.Fprintf(w, "%d,%d\n", a, x)
			}
		}
		local = local[:per]
	}
	s, err := b.Set()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	build := time.Since(t0)
	runtime.GC()
	fmt.Printf("numbers        %d in %d area codes\n", s.Len(), len(codes))
	fmt.Printf("set size       %.1f MiB, %.3f bytes/number\n", float64(s.Bytes())/(1<<20), float64(s.Bytes())/float64(s.Len()))
	fmt.Printf("generate+build %v\n", build.Round(time.Millisecond))

	// Lookups: half members, half random numbers in the same area codes.
	miss := make([]uint64, len(probes))
	for i := range miss {
		miss[i] = 1_000_0000000 + codes[r.IntN(len(codes))]*10_000_000 + r.Uint64N(10_000_000)
	}
	hits := 0
	t1 := time.Now()
	for i := 0; i < *lookups; i++ {
		k := probes[i%len(probes)]
		if i&1 == 1 {
			k = miss[i%len(miss)]
		}
		if s.Contains(k) {
			hits++
		}
	}
	el := time.Since(t1)
	fmt.Printf("lookup         %.0f ns/op over %d lookups (%d hits)\n", float64(el.Nanoseconds())/float64(*lookups), *lookups, hits)
	if w != nil {
		w.Flush()
		t2 := time.Now()
		s2, err := compliance.LoadFile(*file, compliance.FormatRegistry, 1)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		st, _ := os.Stat(*file)
		fmt.Printf("load file      %v for %d numbers (%.0f MiB CSV)\n", time.Since(t2).Round(time.Millisecond), s2.Len(), float64(st.Size())/(1<<20))
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	fmt.Printf("peak heap sys  %.0f MiB\n", float64(ms.HeapSys)/(1<<20))
}
