/**
 * scrapedCounter / scrapedGauge: one unlabeled series whose value is read
 * at scrape time (a map, a layer's stats), the way every metric of the
 * daemon is: nothing is counted twice in the daemon.
 */
import { Counter, Gauge, type Registry } from 'prom-client';

export function scrapedCounter(registry: Registry, name: string, help: string, read: () => number | bigint): void {
  new Counter({
    name,
    help,
    registers: [registry],
    collect() {
      this.reset();
      this.inc(Number(read()));
    },
  });
}

export function scrapedGauge(registry: Registry, name: string, help: string, read: () => number | bigint): void {
  new Gauge({
    name,
    help,
    registers: [registry],
    collect() {
      this.set(Number(read()));
    },
  });
}
