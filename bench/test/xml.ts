/**
 * A tiny XML reader for the tests: enough to tell whether the SVG the report writes is
 * well-formed (one root, tags nested and closed, attributes quoted and unique, only the five
 * predefined entities and character references) and to look into its elements.
 */

/** An element: its name, attributes, children and text. */
export interface XmlElement {
  readonly name: string
  readonly attributes: Readonly<Record<string, string>>
  readonly children: XmlElement[]
  text: string
}

const NAME = /^[A-Za-z_][\w.:-]*$/
const ENTITY = /&(?!(?:amp|lt|gt|quot|apos|#\d+|#x[\da-fA-F]+);)/

/** Decodes the predefined entities and character references. */
function decode(text: string): string {
  return text.replace(/&(amp|lt|gt|quot|apos|#\d+|#x[\da-fA-F]+);/g, (_, e: string) => {
    const named: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" }
    if (e in named) return named[e] as string
    return String.fromCodePoint(e[1] === 'x' ? Number.parseInt(e.slice(2), 16) : Number(e.slice(1)))
  })
}

/** Reads `name="value" name='value'…`. @throws Error when anything else is there. */
function attributes(source: string, where: number): Record<string, string> {
  const result: Record<string, string> = {}
  const pattern = /\s+([^\s=/>]+)\s*=\s*(?:"([^"<]*)"|'([^'<]*)')/y
  let rest = source
  while (rest.trim() !== '') {
    pattern.lastIndex = 0
    const match = pattern.exec(rest)
    if (match === null) throw new Error(`malformed attributes at ${where}: ${rest.slice(0, 40)}`)
    const [all, name = '', double, single] = match
    const value = double ?? single ?? ''
    if (!NAME.test(name)) throw new Error(`bad attribute name ${name} at ${where}`)
    if (name in result) throw new Error(`duplicate attribute ${name} at ${where}`)
    if (ENTITY.test(value)) throw new Error(`bare & in attribute ${name} at ${where}`)
    result[name] = decode(value)
    rest = rest.slice(all.length)
  }
  return result
}

/**
 * Parses an XML document.
 *
 * @returns its root element.
 * @throws Error describing the first way it is not well-formed.
 */
export function parseXml(source: string): XmlElement {
  const stack: XmlElement[] = []
  let root: XmlElement | undefined
  const token =
    /<\?[\s\S]*?\?>|<!--[\s\S]*?-->|<\/([^\s>]+)\s*>|<([^\s/>!?]+)((?:\s+[^\s=/>]+\s*=\s*(?:"[^"]*"|'[^']*'))*)\s*(\/?)>|<|[^<]+/g
  for (const match of source.matchAll(token)) {
    const [text, closing, opening, attrs = '', selfClosing] = match
    const at = match.index
    const parent = stack.at(-1)
    if (text.startsWith('<?') || text.startsWith('<!--')) {
      if (text.startsWith('<?xml') && at !== 0) throw new Error('XML declaration not first')
      continue
    }
    if (closing !== undefined) {
      const open = stack.pop()
      if (open?.name !== closing) {
        throw new Error(`</${closing}> at ${at} closes <${open?.name ?? 'nothing'}>`)
      }
      continue
    }
    if (opening !== undefined) {
      if (!NAME.test(opening)) throw new Error(`bad element name ${opening} at ${at}`)
      const element: XmlElement = {
        name: opening,
        attributes: attributes(attrs, at),
        children: [],
        text: '',
      }
      if (parent !== undefined) parent.children.push(element)
      else if (root === undefined) root = element
      else throw new Error(`a second root element <${opening}> at ${at}`)
      if (selfClosing !== '/') stack.push(element)
      continue
    }
    if (text === '<') throw new Error(`a < that starts no tag at ${at}`)
    if (ENTITY.test(text)) throw new Error(`bare & in text at ${at}`)
    if (parent === undefined) {
      if (text.trim() !== '') throw new Error(`text outside the root at ${at}`)
    } else parent.text += decode(text)
  }
  if (stack.length > 0) throw new Error(`<${stack.at(-1)?.name}> is never closed`)
  if (root === undefined) throw new Error('no root element')
  return root
}

/** Every element below `element` (itself included), depth first. */
export function descendants(element: XmlElement): XmlElement[] {
  return [element, ...element.children.flatMap(descendants)]
}
