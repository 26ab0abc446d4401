package attack

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/netip"
	"time"

	"github.com/tollgate-voip/tollgate/reputation"
)

// Export formats.
const (
	ExportKamcmd  = "kamcmd"  // kamcmd htable.seti lines
	ExportJSONRPC = "jsonrpc" // one Kamailio JSON-RPC request per line (jsonrpcs module)
	ExportNFT     = "nft"     // an nft -f script
)

// KamailioTable is the htable the exports write to. A Kamailio route
// refuses a banned source with, for example:
//
//	if ($sht(tollgate_ban=>$si) != $null && $sht(tollgate_ban=>$si) > $Ts) { sl_send_reply("403", "Forbidden"); exit; }
//
// The stored value is the ban's expiry as a Unix time.
const KamailioTable = "tollgate_ban"

// WriteBans writes the bans in force at now in one of the export formats.
// Kamailio's htable matches exact keys only, so network bans are left out
// of the Kamailio forms (a comment says so); nftables takes them as
// intervals.
func WriteBans(w io.Writer, format string, bans []reputation.Ban, now time.Time) error {
	bw := bufio.NewWriter(w)
	switch format {
	case ExportKamcmd, ExportJSONRPC:
		id := 1
		for _, b := range bans {
			if !b.Active(now) {
				continue
			}
			p, err := reputation.ParsePrefix(b.IP)
			if err != nil {
				continue
			}
			if !p.IsSingleIP() {
				fmt.Fprintf(bw, "# network ban %s not expressible as an htable key; use the nft export\n", b.IP)
				continue
			}
			key := p.Addr().String()
			if format == ExportKamcmd {
				fmt.Fprintf(bw, "kamcmd htable.seti %s %s %d\n", KamailioTable, key, b.Expires.Unix())
				continue
			}
			req := map[string]any{"jsonrpc": "2.0", "method": "htable.seti", "params": []any{KamailioTable, key, b.Expires.Unix()}, "id": id}
			id++
			raw, _ := json.Marshal(req)
			bw.Write(raw)
			bw.WriteByte('\n')
		}
	case ExportNFT:
		// The script is the whole state: applied again (nft -f) it
		// replaces the sets' elements and the chain's rules rather than
		// adding duplicates, so a released ban disappears.
		fmt.Fprintf(bw, "add table inet tollgate\n")
		fmt.Fprintf(bw, "add set inet tollgate banned4 { type ipv4_addr; flags interval, timeout; }\n")
		fmt.Fprintf(bw, "add set inet tollgate banned6 { type ipv6_addr; flags interval, timeout; }\n")
		fmt.Fprintf(bw, "flush set inet tollgate banned4\n")
		fmt.Fprintf(bw, "flush set inet tollgate banned6\n")
		// Before the host's own filter chains (priority filter = 0), so a
		// banned source is dropped whatever they accept.
		fmt.Fprintf(bw, "add chain inet tollgate input { type filter hook input priority -10; policy accept; }\n")
		fmt.Fprintf(bw, "flush chain inet tollgate input\n")
		fmt.Fprintf(bw, "add rule inet tollgate input ip saddr @banned4 drop\n")
		fmt.Fprintf(bw, "add rule inet tollgate input ip6 saddr @banned6 drop\n")
		for _, b := range bans {
			if !b.Active(now) {
				continue
			}
			p, err := reputation.ParsePrefix(b.IP)
			if err != nil {
				continue
			}
			secs := int64(b.Expires.Sub(now).Round(time.Second) / time.Second)
			if secs < 1 {
				secs = 1
			}
			set := "banned4"
			if p.Addr().Is6() {
				set = "banned6"
			}
			fmt.Fprintf(bw, "add element inet tollgate %s { %s timeout %ds }\n", set, nftElem(p), secs)
		}
	default:
		return fmt.Errorf("attack: export format: want kamcmd, jsonrpc or nft, got %q", format)
	}
	return bw.Flush()
}

func nftElem(p netip.Prefix) string {
	if p.IsSingleIP() {
		return p.Addr().String()
	}
	return p.String()
}
