/**
 * Which addresses health checks may probe. A check is a request the gateway makes on behalf of
 * whoever registered the instance, and its verdict is readable through the API: without a bound,
 * registering an instance at 169.254.169.254 with a check asks the cloud's metadata service
 * whether it answers (server-side request forgery). Refused by default: link-local (where the
 * metadata services of AWS, GCP and Azure live), unspecified and multicast addresses, IPv4 and
 * IPv6 alike. `ZKGATE_CHECK_DENY_CIDRS` adds ranges, `ZKGATE_CHECK_ALLOW_CIDRS` opens ranges
 * inside them.
 *
 * Addresses are judged twice: at registration when the instance's address is an IP literal, and
 * at every probe after DNS resolution, on the very address the probe then connects to, so a name
 * that resolves (or is re-pointed) to a refused address gets no probe either.
 */
import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { BlockList, isIP, type LookupFunction } from 'node:net';

/** Refused unless allowed: link-local, unspecified, multicast and broadcast. */
export const DEFAULT_DENIED_CIDRS: readonly string[] = Object.freeze([
  '169.254.0.0/16',
  'fe80::/10',
  '0.0.0.0/8',
  '::/128',
  '224.0.0.0/4',
  'ff00::/8',
  '255.255.255.255/32',
]);

/** `a.b.c.d/n` or `x::y/n`; throws on anything else (settings are validated at boot with this). */
export function parseCidr(cidr: string): { address: string; prefix: number; family: 'ipv4' | 'ipv6' } {
  const slash = cidr.indexOf('/');
  const address = slash < 0 ? cidr : cidr.slice(0, slash);
  const version = isIP(address);
  const bits = version === 4 ? 32 : 128;
  const prefix = slash < 0 ? bits : Number(cidr.slice(slash + 1));
  if (version === 0 || !Number.isInteger(prefix) || prefix < 0 || prefix > bits || /\s/.test(cidr)) {
    throw new RangeError(`${JSON.stringify(cidr)} is not a CIDR range`);
  }
  return { address, prefix, family: version === 4 ? 'ipv4' : 'ipv6' };
}

function blockList(cidrs: readonly string[]): BlockList {
  const list = new BlockList();
  for (const cidr of cidrs) {
    const { address, prefix, family } = parseCidr(cidr);
    list.addSubnet(address, prefix, family);
  }
  return list;
}

export class CheckTargets {
  private readonly denied: BlockList;
  private readonly allowed: BlockList;

  constructor({ deny = [], allow = [] }: { deny?: readonly string[]; allow?: readonly string[] } = {}) {
    this.denied = blockList([...DEFAULT_DENIED_CIDRS, ...deny]);
    this.allowed = blockList(allow);
  }

  /** Whether an IP address may be probed; anything that is not an IP address may not. */
  permits(address: string): boolean {
    const version = isIP(address);
    if (version === 0) return false;
    const family = version === 4 ? 'ipv4' : 'ipv6';
    // An IPv4-mapped IPv6 address reaches the IPv4 host: judge it as that.
    const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address)?.[1];
    if (mapped !== undefined) return this.permits(mapped);
    return this.allowed.check(address, family) || !this.denied.check(address, family);
  }

  /** Why an instance address is refused at registration, or undefined (names are judged at probe time). */
  refusal(address: string): string | undefined {
    if (isIP(address) === 0 || this.permits(address)) return undefined;
    return `health checks may not probe ${address}: link-local, unspecified and multicast addresses (and ZKGATE_CHECK_DENY_CIDRS) are refused`;
  }

  /**
   * A `lookup` for sockets and undici that resolves as usual and then fails with
   * `EZKGATE_TARGET_DENIED` when a resolved address may not be probed: the check is on the
   * address connected to, with no window for a second resolution to differ.
   */
  readonly lookup: LookupFunction = (hostname, options, callback) => {
    dnsLookup(hostname, { ...options, all: true }, (err, resolved: LookupAddress[]) => {
      if (err) return callback(err, '', 0);
      const refused = resolved.find((entry) => !this.permits(entry.address));
      if (refused || resolved.length === 0) {
        const error = Object.assign(
          new Error(`${hostname} resolves to ${refused?.address ?? 'nothing'}, which may not be probed`),
          {
            code: 'EZKGATE_TARGET_DENIED',
          },
        );
        return callback(error, '', 0);
      }
      if (options.all) return (callback as (e: null, a: LookupAddress[]) => void)(null, resolved);
      const [first] = resolved as [LookupAddress];
      callback(null, first.address, first.family);
    });
  };
}
