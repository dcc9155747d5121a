// msgpackr catches this and uses its pure-JavaScript string extraction.
throw new Error('msgpackr-extract native accelerator not installed (raddiff stub)')
