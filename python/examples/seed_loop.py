"""The seed's 20-agent loop in Python, on the qis package (the same library as `qis demo`).

    python examples/seed_loop.py [--agents 20] [--data DIR] [--seed 7]

Twenty trial sites deposit their outcome for one problem, a new site consults them before it
starts, then closes the loop: it deposits the insight, citing the packets it rests on. Every
packet routes to the address `qis demo` prints, 1dd96c30c27fe860: the fingerprint is the same
code.
"""

import argparse
import random
import tempfile

import qis

DOMAIN = "clinical_trial"
CONTEXT = {"condition": "T2D", "intervention_type": "GLP1"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agents", type=int, default=20)
    parser.add_argument("--data", help="the embedded store's directory (default: a temporary one)")
    parser.add_argument("--seed", type=int, default=None)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    data = args.data or tempfile.mkdtemp(prefix="qis-seed-loop-")
    print(f"Routing layer: the embedded store in {data}")

    print(f"\nPhase 1: {args.agents} agents deposit outcome packets")
    address = None
    for i in range(args.agents):
        reduction = round(rng.gauss(1.2, 0.3), 2)
        protocol = rng.choice(["once_weekly", "twice_weekly"])
        outcome = "resolved" if reduction >= 1.0 else "partial" if reduction >= 0.5 else "contradicted"
        with qis.Node(f"site_{i:02}", data=data) as site:
            receipt = site.deposit(
                DOMAIN, CONTEXT, outcome=outcome, confidence=round(rng.uniform(0.5, 0.95), 2),
                result={"hba1c_reduction": reduction, "adherence": round(rng.uniform(0.6, 0.95), 2),
                        "protocol": protocol},
                summary=f"HbA1c down {reduction} on a {protocol} GLP-1 protocol")
        address = receipt.address
    print(f"  -> every packet routed to address {address}")

    print("\nPhase 2: a new agent consults its peers before starting its trial")
    with qis.Node("site_new", data=data) as newcomer:
        insight = newcomer.consult(DOMAIN, CONTEXT, method="frequency")
        print(f"  -> retrieved {insight.sample_size} peer outcomes from {insight.agents} agents")
        print(f"  -> consensus rate: {100 * (insight.consensus_rate or 0):.0f}%")
        print(f"  -> best-supported outcome: {insight.best}")
        weighted = newcomer.consult(DOMAIN, CONTEXT, method="weighted")
        print(f"  -> weighted view: {weighted.best} (confidence {weighted.confidence:.2f})")
        bayes = newcomer.consult(DOMAIN, CONTEXT, method="bayesian").to_dict()["success"]
        low, high = bayes["interval"]
        print(f"  -> P(resolved) = {bayes['mean']:.2f}, credible interval [{low:.2f}, {high:.2f}]")

        print("\nPhase 3: feedback loop")
        done = newcomer.close_loop(DOMAIN, CONTEXT)
        assert done is not None
        derived, receipt = done
        print(f"  -> site_new re-deposited its {derived.method} insight as packet {receipt.id} "
              f"(derived from {len(derived.used)} packets)")
        later = newcomer.consult(DOMAIN, CONTEXT, method="frequency")
        print(f"  -> a later consult counts {later.agents} agents: nothing counts twice")


if __name__ == "__main__":
    main()
