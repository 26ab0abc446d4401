package main

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/tollgate-voip/tollgate/voice"
)

// scoreRow is one -heldout cell's trials, for writeScores.
type scoreRow struct {
	setting string
	digits  int
	pair    chanPair
	t       *tally
}

// writeScores writes every trial's normalised score, one a line:
// setting, digits, enrolment channel, test channel, "tar" or "imp",
// score (tab-separated).
func writeScores(path string, rows []scoreRow) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(f)
	for _, r := range rows {
		for _, kind := range []string{"tar", "imp"} {
			v := r.t.tar
			if kind == "imp" {
				v = r.t.imp
			}
			for _, s := range v {
				fmt.Fprintf(w, "%s\t%d\t%s\t%s\t%s\t%.6g\n", r.setting, r.digits, r.pair.enrol, r.pair.test, kind, s)
			}
		}
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// poolScores reads -scores files (runs on different folds, same
// settings) and prints the EER of the pooled trials per cell, in the
// order cells first appear.
func poolScores(paths []string) error {
	type cell struct {
		setting string
		digits  int
		pair    chanPair
	}
	var order []cell
	tar, imp := map[cell][]float64{}, map[cell][]float64{}
	for _, p := range paths {
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		sc := bufio.NewScanner(f)
		line := 0
		for sc.Scan() {
			line++
			fs := strings.Split(sc.Text(), "\t")
			if len(fs) != 6 {
				f.Close()
				return fmt.Errorf("%s:%d: want 6 tab-separated fields, got %d", p, line, len(fs))
			}
			n, err1 := strconv.Atoi(fs[1])
			s, err2 := strconv.ParseFloat(fs[5], 64)
			if err1 != nil || err2 != nil || (fs[4] != "tar" && fs[4] != "imp") {
				f.Close()
				return fmt.Errorf("%s:%d: bad line %q", p, line, sc.Text())
			}
			c := cell{fs[0], n, chanPair{fs[2], fs[3]}}
			if _, ok := tar[c]; !ok {
				if _, ok := imp[c]; !ok {
					order = append(order, c)
				}
			}
			if fs[4] == "tar" {
				tar[c] = append(tar[c], s)
			} else {
				imp[c] = append(imp[c], s)
			}
		}
		err = sc.Err()
		f.Close()
		if err != nil {
			return fmt.Errorf("%s: %w", p, err)
		}
	}
	fmt.Printf("| setting | digits | enrol → test | EER %% | target / impostor trials |\n|---|---|---|---|---|\n")
	for _, c := range order {
		eer, _ := voice.EER(tar[c], imp[c])
		fmt.Printf("| %s | %d | %s → %s | %.2f | %d / %d |\n", c.setting, c.digits, c.pair.enrol, c.pair.test, 100*eer, len(tar[c]), len(imp[c]))
	}
	return nil
}
