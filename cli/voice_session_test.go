package cli

import (
	"strings"
	"testing"

	"github.com/tollgate-voip/tollgate/voice"
)

// TestParseSession: the -session flag of 'voice train-ubm' reads what
// sessionFlag writes and refuses what it cannot use.
func TestParseSession(t *testing.T) {
	for _, o := range []voice.SessionOptions{{}, {PCA: 200}, {PCA: 200, NAP: 10, LDA: 20, WCCN: 0.3}} {
		got, err := parseSession(sessionFlag(o))
		if err != nil || got != o {
			t.Errorf("parseSession(%q) = %+v, %v; want %+v", sessionFlag(o), got, err, o)
		}
	}
	for _, bad := range []string{"pca", "pca=x", "nap=10", "pca=10,nap=10", "pca=100,wccn=1", "pca=100,foo=1", "pca=-5"} {
		if _, err := parseSession(bad); err == nil {
			t.Errorf("parseSession(%q): no error", bad)
		} else if strings.Contains(err.Error(), "%!") {
			t.Errorf("parseSession(%q): badly formatted error %v", bad, err)
		}
	}
}
