/** Browser stand-in for the two helpers @oozcitak/url takes from Node's `url`. */
export const domainToASCII = (domain: string): string => new URL(`http://${domain}`).hostname
export const domainToUnicode = (domain: string): string => domain
export default { domainToASCII, domainToUnicode }
