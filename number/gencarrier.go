//go:build ignore

// Gencarrier extracts the English carrier table embedded in
// github.com/nyaruka/phonenumbers into data/carrier_en.txt.gz as
// "prefix|carrier" lines, so the number package can load it into a trie.
package main

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"fmt"
	"io"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

func main() {
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/nyaruka/phonenumbers").Output()
	if err != nil {
		log.Fatalf("gencarrier: locating module: %v", err)
	}
	src := filepath.Join(strings.TrimSpace(string(out)), "data", "prefix_to_carriers", "en.txt.gz")
	raw, err := gunzip(src)
	if err != nil {
		log.Fatalf("gencarrier: %v", err)
	}
	lines, err := decode(raw)
	if err != nil {
		log.Fatalf("gencarrier: %s: %v", src, err)
	}
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	w := bufio.NewWriter(zw)
	for _, l := range lines {
		w.WriteString(l)
		w.WriteByte('\n')
	}
	if err := w.Flush(); err != nil {
		log.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		log.Fatal(err)
	}
	if err := os.WriteFile("data/carrier_en.txt.gz", buf.Bytes(), 0o644); err != nil {
		log.Fatal(err)
	}
	fmt.Printf("gencarrier: %d prefixes from %s\n", len(lines), src)
}

func gunzip(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		return nil, err
	}
	return io.ReadAll(zr)
}

// decode reads the library's serialized prefix map: a little-endian
// uint32 byte count of newline-separated values, a uint32 entry count,
// then per entry a uvarint prefix delta and a uint16 value index.
func decode(b []byte) ([]string, error) {
	r := bytes.NewReader(b)
	var n uint32
	if err := binary.Read(r, binary.LittleEndian, &n); err != nil {
		return nil, err
	}
	vals := make([]byte, n)
	if _, err := io.ReadFull(r, vals); err != nil {
		return nil, err
	}
	values := strings.Split(string(vals), "\n")
	var count uint32
	if err := binary.Read(r, binary.LittleEndian, &count); err != nil {
		return nil, err
	}
	var lines []string
	prefix := uint64(0)
	for range count {
		d, err := binary.ReadUvarint(r)
		if err != nil {
			return nil, err
		}
		prefix += d
		var vi uint16
		if err := binary.Read(r, binary.LittleEndian, &vi); err != nil {
			return nil, err
		}
		if int(vi) >= len(values) {
			return nil, fmt.Errorf("value index %d out of range", vi)
		}
		if strings.ContainsAny(values[vi], "|\n") {
			return nil, fmt.Errorf("carrier name %q contains a separator", values[vi])
		}
		lines = append(lines, strconv.FormatUint(prefix, 10)+"|"+values[vi])
	}
	slices.Sort(lines)
	return lines, nil
}
